import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../http/api/context.js';
import { endSse, sseRoute } from '../http/api/sse.js';
import { patternHealthOf } from '../ingest/health.js';
import type { Assets } from './assets.js';
import type { Console, LiveMessage } from './console.js';
import { jailRows } from './jails.js';

const MAX_LIVE = 16;

/** Scripts and styles from the page's own origin only; nothing framed, nothing posted elsewhere. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface ConsoleDeps {
  console: Console;
  assets: Assets;
  /** Readiness of the subsystems (the body of /ready). */
  ready?: () => { httpStatus: number; body: Record<string, unknown> };
  /** Whether this caller may change bans (not a read-only user). */
  canWrite: (req: FastifyRequest) => boolean;
  version: string;
  startedAt: number;
}

function sendAsset(
  req: FastifyRequest,
  reply: FastifyReply,
  a: { body: Buffer; type: string; etag: string },
  cache: string,
) {
  reply.headers({ ...PAGE_HEADERS, etag: a.etag, 'cache-control': cache });
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

/** The operator's console: the page at /ui and the read-only data it draws from. */
export function consoleRoutes(app: FastifyInstance, api: ApiDeps, deps: ConsoleDeps): void {
  const c = deps.console;
  const hide = { schema: { hide: true } };

  app.get('/ui', hide, (_req, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/', hide, (req, reply) => {
    const index = deps.assets.index;
    if (index === null)
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` (it bundles the page into dist/ui).');
    return sendAsset(req, reply, index, 'no-cache');
  });
  app.get<{ Params: { name: string } }>('/ui/assets/:name', hide, (req, reply) => {
    const a = deps.assets.files.get(req.params.name);
    if (a === undefined) return reply.code(404).send({ success: false, message: 'no such asset' });
    return sendAsset(req, reply, a, 'public, max-age=31536000, immutable');
  });

  app.get(
    '/api/console/overview',
    { schema: { tags: ['console'], summary: 'What the console front page shows, in one document' } },
    async (req) => {
      const e = api.engine;
      const quarantined = patternHealthOf(e)?.quarantined() ?? new Map();
      const store = api.store();
      return {
        success: true,
        node: e.node,
        version: deps.version,
        uptime_seconds: Math.round((Date.now() - deps.startedAt) / 1000),
        user: req.caller?.user ?? null,
        can_write: deps.canWrite(req),
        active_bans: e.activeTempBans,
        blacklist: e.list('blacklist', { limit: 0 }).total,
        whitelist: e.list('whitelist', { limit: 0 }).total,
        tracked_addresses: e.trackedCount,
        last_sample: c.samples.last(),
        top: c.recent.tops(10),
        pattern_rates: [...c.patternRates]
          .map(([pattern, per_second]) => ({ pattern, per_second }))
          .sort((a, b) => b.per_second - a.per_second)
          .slice(0, 20),
        quarantined: [...quarantined].map(([name, q]) => ({
          name,
          since: new Date(q.since).toISOString(),
          reason: q.reason,
        })),
        database: store ? store.databaseStatus() : null,
        health: deps.ready?.().body ?? null,
        live_streams: c.liveCount,
      };
    },
  );

  app.get<{ Querystring: { since?: number } }>(
    '/api/console/samples',
    {
      schema: {
        tags: ['console'],
        summary: 'Per-second samples of the last hour (lookups per proxy, syslog, matches, bans)',
        querystring: { type: 'object', properties: { since: { type: 'number', minimum: 0 } } },
      },
    },
    async (req) => ({ success: true, ...c.samples.since(req.query.since ?? 0) }),
  );

  app.get(
    '/api/console/jails',
    {
      schema: {
        tags: ['console'],
        summary:
          'Each jail with its rule, its active bans, its bans and top offenders of the last hour, its match rate',
      },
    },
    async () => ({ success: true, jails: jailRows(api.engine, c) }),
  );

  app.get<{ Querystring: { ip?: string; jail?: string; limit?: number } }>(
    '/api/console/events',
    {
      schema: {
        tags: ['console'],
        summary: 'The latest bans and unbans this process saw (newest first), optionally of one address',
        querystring: {
          type: 'object',
          properties: {
            ip: { type: 'string', maxLength: 64 },
            jail: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (req) => ({
      success: true,
      events: c.recent.latest(req.query.limit ?? 100, req.query.ip || undefined, req.query.jail || undefined),
    }),
  );

  const open = sseRoute({
    maxStreams: MAX_LIVE,
    label: 'console-live',
    greeting: 'edgeban console',
    throttle: api.gate.throttle,
  });
  app.get(
    '/api/console/live',
    { schema: { tags: ['console'], summary: 'Server-sent events: a sample each second, bans and unbans' } },
    (req, reply) => {
      let off = () => {};
      const send = open(req, reply, () => off());
      if (send === null) return;
      off = c.listen(
        (m: LiveMessage) => {
          send(m.type, JSON.stringify(m.type === 'sample' ? m : m.event));
        },
        () => endSse(reply),
      );
    },
  );
}
