import type { FastifyInstance } from 'fastify';
import { canonicalTarget } from '../../../shared/ip/cidr.js';
import { parseDuration } from '../../config/duration.js';
import type { HistoryEntry } from '../../store/history.js';
import { NullStore } from '../../store/null-store.js';
import { type ApiDeps, fail } from './context.js';
import { iso } from './format.js';

/** Without a database: the empty store, which refuses with E_DB_DISABLED (503). */
const NO_DATABASE = new NullStore('');

interface HistoryQs {
  ip?: string;
  jail?: string;
  since?: string;
  limit: number;
  offset: number;
}

const historyQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ip: {
      type: 'string',
      maxLength: 64,
      description: 'an address (the bans that covered it) or a CIDR (the bans inside it)',
      example: '203.0.113.7',
    },
    jail: { type: 'string', maxLength: 255, example: 'sshd' },
    since: {
      type: 'string',
      maxLength: 40,
      description:
        'ended at or after: an RFC 3339 time, unix milliseconds, or a duration back from now ("24h")',
      example: '24h',
    },
    offset: { type: 'integer', minimum: 0, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

/** `since` as unix ms: an RFC 3339 time, a number of ms, or a duration back from `now`. */
export function sinceOf(s: string, now: number): number | null {
  if (/^\d+$/.test(s)) return Number(s);
  const d = parseDuration(s);
  if (d !== null && /[a-zµμ]$/.test(s)) return now - d;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

/** One history row as the API shows it: times in RFC 3339, the ban's length in seconds. */
export function historyItem(h: HistoryEntry): Record<string, unknown> {
  return {
    ip_address: h.ip_address,
    jail: h.jail,
    services: h.services,
    kind: h.kind,
    reason: h.reason,
    pattern: h.pattern,
    created_at: iso(h.created_at_ms),
    created_by: h.created_by,
    node: h.node,
    ban_count: h.ban_count,
    expires_at: iso(h.expires_at_ms),
    ended_at: iso(h.ended_at_ms),
    end_reason: h.end_reason,
    ended_by: h.ended_by,
  };
}

/** GET /api/history: lifted and expired bans from `ban_history`, newest first, paged. */
export function historyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Querystring: HistoryQs }>(
    '/api/history',
    {
      schema: {
        tags: ['bans'],
        summary: 'Bans that ended (lifted, expired, hidden by a whitelist entry), newest first',
        querystring: historyQuery,
      },
    },
    async (req, reply) => {
      const q = req.query;
      let ip: string | undefined;
      if (q.ip !== undefined && q.ip !== '') {
        const c = canonicalTarget(q.ip);
        if (c === null) return fail(reply, 400, 'querystring.ip: not an address or CIDR', { field: 'ip' });
        ip = c;
      }
      let since: number | undefined;
      if (q.since !== undefined && q.since !== '') {
        const s = sinceOf(q.since, Date.now());
        if (s === null)
          return fail(reply, 400, 'querystring.since: must be an RFC 3339 time, unix ms or a duration', {
            field: 'since',
          });
        since = s;
      }
      const store = deps.store() ?? NO_DATABASE;
      const jail = q.jail || undefined;
      const page = await store.readHistory({ ip, jail, since, limit: q.limit, offset: q.offset });
      return {
        success: true,
        count: page.total,
        offset: q.offset,
        limit: q.limit,
        history: page.items.map(historyItem),
      };
    },
  );
}
