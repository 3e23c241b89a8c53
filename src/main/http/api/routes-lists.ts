import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canonicalTarget } from '../../../shared/ip/cidr.js';
import { PrefixTooShortError } from '../../engine/errors.js';
import { type ApiDeps, actor, audit, fail, persisted } from './context.js';
import { listItem } from './format.js';
import { prefixRefused } from './routes-bans.js';
import { createdByField, ipBody, ipField, listQuery, okResponse, reasonField } from './schemas.js';

type Kind = 'whitelist' | 'blacklist';

interface EntryBody {
  ip_address: string;
  reason?: string;
  created_by?: string;
  force?: boolean;
}

/**
 * GET|POST|DELETE /api/whitelist and /api/blacklist. Entries are addresses or CIDRs; a removed
 * entry can be added again. A whitelist entry hides the bans it covers until it is removed.
 */
export function listRoutes(app: FastifyInstance, deps: ApiDeps): void {
  for (const kind of ['whitelist', 'blacklist'] as const) {
    const label = kind === 'whitelist' ? 'whitelisted' : 'blacklisted';

    app.get<{ Querystring: { offset: number; limit: number; filter?: string } }>(
      `/api/${kind}`,
      { schema: { tags: ['lists'], summary: `The ${kind} (paged, filterable)`, querystring: listQuery } },
      async (req) => {
        const { offset, limit, filter } = req.query;
        const page = deps.engine.list(kind, { offset, limit, filter });
        return {
          success: true,
          message: '',
          count: page.total,
          offset,
          limit,
          [kind]: page.items.length ? page.items.map(listItem) : undefined,
        };
      },
    );

    app.post<{ Body: EntryBody }>(
      `/api/${kind}`,
      {
        schema: {
          tags: ['lists'],
          summary:
            kind === 'whitelist'
              ? 'Never ban this address or range (hides current bans while listed)'
              : 'Ban this address or range permanently',
          body: ipBody,
          response: { 200: okResponse },
        },
      },
      async (req, reply) => {
        const by = actor(req, req.body.created_by);
        const reason = req.body.reason || `Manual ${kind} via API`;
        const add = kind === 'whitelist' ? deps.engine.whitelistAdd : deps.engine.blacklistAdd;
        let r: ReturnType<typeof add>;
        try {
          r = add.call(deps.engine, req.body.ip_address, { reason, createdBy: by, force: req.body.force });
        } catch (err) {
          if (err instanceof PrefixTooShortError) return prefixRefused(reply, err);
          throw err;
        }
        const { record, added } = r;
        audit(deps, req, `${kind}-add`, { ip: record.target, created_by: by, added, reason });
        const durable = await persisted(deps);
        return {
          success: true,
          message: added ? `IP ${record.target} added to ${kind}` : `IP ${record.target} is already ${label}`,
          ip_address: record.target,
          added,
          persisted: durable,
        };
      },
    );

    app.delete<{ Body: EntryBody | undefined; Querystring: { ip_address?: string } }>(
      `/api/${kind}`,
      {
        schema: {
          tags: ['lists'],
          summary: `Remove an entry from the ${kind} (JSON body, or ?ip_address=)`,
          body: {
            type: 'object',
            additionalProperties: false,
            properties: { ip_address: ipField, reason: reasonField, created_by: createdByField },
          },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ip_address: ipField },
          },
          response: { 200: okResponse },
        },
        // a DELETE usually has no body: validate `{}` then, and take ?ip_address=
        preValidation: async (req) => {
          if (req.body === undefined || req.body === null) req.body = {} as EntryBody;
        },
      },
      async (req, reply) => remove(deps, kind, req, reply),
    );
  }
}

async function remove(
  deps: ApiDeps,
  kind: Kind,
  req: FastifyRequest<{ Body: EntryBody | undefined; Querystring: { ip_address?: string } }>,
  reply: FastifyReply,
): Promise<unknown> {
  const ip = req.body?.ip_address ?? req.query.ip_address;
  if (!ip) return fail(reply, 400, 'body.ip_address: required (or ?ip_address=)', { field: 'ip_address' });
  const by = actor(req, req.body?.created_by);
  const opts = { by, reason: req.body?.reason || `Manual ${kind} removal via API` };
  const removed =
    kind === 'whitelist' ? deps.engine.whitelistRemove(ip, opts) : deps.engine.blacklistRemove(ip, opts);
  // the engine accepted it, so it parses: answer with the canonical spelling
  const target = canonicalTarget(ip) ?? ip;
  audit(deps, req, `${kind}-remove`, { ip: target, created_by: by, removed });
  const durable = await persisted(deps);
  return {
    success: true,
    message: `IP ${target} removed from ${kind}`,
    ip_address: target,
    removed,
    persisted: durable,
  };
}
