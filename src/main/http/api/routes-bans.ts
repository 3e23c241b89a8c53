import type { FastifyInstance, FastifyReply } from 'fastify';
import { canonicalTarget } from '../../../shared/ip/cidr.js';
import { InvalidServiceError, PrefixTooShortError, UnknownJailError } from '../../engine/errors.js';
import { type ApiDeps, actor, audit, fail, persisted } from './context.js';
import { durationFromBody, goDuration, iso, tempItem } from './format.js';
import {
  createdByField,
  durationField,
  forceField,
  ipField,
  jailField,
  okResponse,
  reasonField,
  servicesField,
  tempBansQuery,
} from './schemas.js';

interface BanBody {
  ip_address: string;
  duration?: string | number;
  reason?: string;
  created_by?: string;
  permanent?: boolean;
  force?: boolean;
  jail?: string;
  services?: string[];
}

/** A prefix under the floor: 400 with the stable code and the floor in numbers. */
export function prefixRefused(reply: FastifyReply, err: PrefixTooShortError): FastifyReply {
  return fail(reply, err.statusCode, err.message, {
    error: err.code,
    ip_address: err.target,
    prefix_length: err.prefixLen,
    min_prefix: err.minPrefix,
  });
}

/** Bans: POST /api/ban, /api/unban, GET /api/temp-bans, /api/bans/{ip}, POST /api/purge-bans, stats. */
export function banRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { engine } = deps;

  app.post<{ Body: BanBody }>(
    '/api/ban',
    {
      schema: {
        tags: ['bans'],
        summary: 'Ban an address or range, temporarily or permanently (blacklist)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['ip_address'],
          properties: {
            ip_address: ipField,
            duration: durationField,
            reason: reasonField,
            created_by: createdByField,
            permanent: { type: 'boolean', description: 'true = add to the blacklist (never expires)' },
            force: forceField,
            jail: jailField,
            services: servicesField,
          },
        },
        response: { 200: okResponse },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const ms = durationFromBody(b.duration);
      if (typeof ms === 'string') return fail(reply, 400, `body.duration: ${ms}`, { field: 'duration' });
      const by = actor(req, b.created_by);
      if (b.permanent) {
        let r: ReturnType<typeof engine.blacklistAdd>;
        try {
          r = engine.blacklistAdd(b.ip_address, {
            reason: b.reason || 'Manual ban via API',
            createdBy: by,
            force: b.force,
          });
        } catch (err) {
          if (err instanceof PrefixTooShortError) return prefixRefused(reply, err);
          throw err;
        }
        const { record, added } = r;
        audit(deps, req, 'blacklist-add', { ip: record.target, created_by: by, added });
        const durable = await persisted(deps);
        return {
          success: true,
          message: added
            ? `IP ${record.target} permanently banned (blacklisted)`
            : `IP ${record.target} is already blacklisted`,
          ip_address: record.target,
          permanent: true,
          persisted: durable,
        };
      }
      let record: ReturnType<typeof engine.ban>;
      try {
        record = engine.ban(b.ip_address, {
          durationMs: ms,
          reason: b.reason,
          createdBy: by,
          force: b.force,
          jail: b.jail,
          services: b.services,
        });
      } catch (err) {
        if (err instanceof PrefixTooShortError) return prefixRefused(reply, err);
        if (err instanceof UnknownJailError)
          return fail(reply, err.statusCode, err.message, { error: err.code, field: 'jail' });
        if (err instanceof InvalidServiceError)
          return fail(reply, err.statusCode, err.message, { error: err.code, field: 'services' });
        throw err;
      }
      const length = (record.expiresAt ?? record.createdAt) - record.createdAt;
      audit(deps, req, 'ban', {
        ip: record.target,
        created_by: by,
        duration: length / 1000,
        reason: record.reason,
      });
      const durable = await persisted(deps);
      return {
        success: true,
        message: `IP ${record.target} temporarily banned for ${goDuration(length)}`,
        ip_address: record.target,
        duration: goDuration(length),
        duration_seconds: Math.round(length / 1000),
        expires_at: iso(record.expiresAt),
        offences: record.offences,
        jail: record.jail,
        services: record.services ?? [],
        ...(record.shadow ? { shadow: true } : {}),
        // a whitelist entry wins over any ban: say so instead of pretending the address is blocked
        effective: record.target.includes('/') ? null : engine.status(record.target).banned,
        persisted: durable,
      };
    },
  );

  app.post<{ Body: { ip_address: string; reason?: string; created_by?: string; jail?: string } }>(
    '/api/unban',
    {
      schema: {
        tags: ['bans'],
        summary: 'Lift a temporary ban and a blacklist entry for this exact address or range',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['ip_address'],
          properties: {
            ip_address: ipField,
            reason: reasonField,
            created_by: createdByField,
            jail: jailField,
          },
        },
        response: { 200: okResponse },
      },
    },
    async (req, reply) => {
      const by = actor(req, req.body.created_by);
      const target = canonicalTarget(req.body.ip_address) ?? req.body.ip_address;
      let r: ReturnType<typeof engine.unban>;
      try {
        r = engine.unban(req.body.ip_address, {
          by,
          reason: req.body.reason || 'Manual unban via API',
          jail: req.body.jail,
        });
      } catch (err) {
        if (err instanceof UnknownJailError)
          return fail(reply, err.statusCode, err.message, { error: err.code, field: 'jail' });
        throw err;
      }
      audit(deps, req, 'unban', { ip: target, created_by: by, temp: r.temp, blacklist: r.blacklist });
      const durable = await persisted(deps);
      const message =
        r.blacklist && r.temp
          ? `IP ${target} removed from blacklist and temporary bans`
          : r.blacklist
            ? `IP ${target} removed from blacklist`
            : `IP ${target} removed from temporary bans`;
      return {
        success: true,
        message,
        ip_address: target,
        was_banned: r.temp,
        was_blacklisted: r.blacklist,
        persisted: durable,
      };
    },
  );

  app.get<{
    Querystring: { offset: number; limit: number; filter?: string; jail?: string; shadow?: boolean };
  }>(
    '/api/temp-bans',
    {
      schema: {
        tags: ['bans'],
        summary:
          "Active temporary bans (paged), of one jail or all; shadow=true: shadow jails' would-be bans",
        querystring: tempBansQuery,
      },
    },
    async (req) => {
      const { offset, limit, filter, jail, shadow } = req.query;
      const page = engine.list('temp', { offset, limit, filter, jail, shadow });
      const now = Date.now();
      return {
        success: true,
        count: page.total,
        offset,
        limit,
        temp_bans: page.items.length ? page.items.map((r) => tempItem(r, now)) : undefined,
      };
    },
  );

  app.get<{ Params: { ip: string } }>(
    '/api/bans/:ip',
    {
      schema: {
        tags: ['bans'],
        summary: 'Verdict for one address: banned or not, why, until when, offence count',
        params: { type: 'object', properties: { ip: { type: 'string', maxLength: 64 } }, required: ['ip'] },
      },
    },
    async (req) => {
      const s = engine.status(req.params.ip);
      const left = s.expiresAt === null ? null : Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
      return {
        success: true,
        ip_address: s.ip,
        banned: s.banned,
        kind: s.kind,
        matched: s.matched,
        reason: s.reason,
        expires_at: iso(s.expiresAt),
        duration_remaining: left === null ? null : goDuration(left * 1000),
        duration_remaining_seconds: left,
        offences: s.offences,
        failures: s.failures,
        jails: (s.jails ?? []).map((j) => ({
          jail: j.jail,
          mode: j.mode,
          failures: j.failures,
          threshold: j.threshold,
          time_window_seconds: Math.round(j.window / 1000),
          ban: j.ban
            ? {
                expires_at: iso(j.ban.expiresAt),
                services: j.ban.services,
                shadow: j.ban.shadow,
                reason: j.ban.reason,
                offences: j.ban.offences,
              }
            : null,
          lines: j.lines,
        })),
      };
    },
  );

  app.post(
    '/api/purge-bans',
    { schema: { tags: ['bans'], summary: 'Lift every temporary ban' } },
    async (req) => {
      const by = actor(req);
      const n = engine.purgeTempBans(by);
      audit(deps, req, 'purge-bans', { created_by: by, purged: n });
      const durable = await persisted(deps);
      return { success: true, message: `Purged ${n} temporary bans`, purged_count: n, persisted: durable };
    },
  );

  app.get('/api/radix-stats', { schema: { tags: ['status'], summary: 'Ban state sizes' } }, async () => {
    const t = deps.table.stats();
    return {
      success: true,
      stats: {
        total_ips_tracked: engine.trackedCount,
        currently_banned: engine.activeTempBans,
        tree_nodes: t.ranges,
        exact_entries: t.exact,
        range_entries: t.ranges,
        table_capacity: t.capacity,
        shared_bytes: t.sabBytes,
        generation: t.generation,
      },
    };
  });

  app.get(
    '/api/security-status',
    { schema: { tags: ['status'], summary: 'How the API is protected' } },
    async () => {
      const rl = deps.rateLimit;
      return {
        success: true,
        security: {
          enabled: true,
          allowed_ips_count: deps.gate.allowedCount,
          basic_auth_enabled: deps.gate.basicAuthEnabled,
          rate_limiting_enabled: rl.enabled,
          ...(rl.enabled ? { active_clients: rl.activeClients(), rate_limit: rl.perMinute } : {}),
        },
      };
    },
  );
}
