import type { FastifyInstance } from 'fastify';
import { normalizeSpec } from '../../../shared/patterns/compile.js';
import type { BanPolicy } from '../../engine/types.js';
import { patternHealthOf } from '../../ingest/health.js';
import { NullStore } from '../../store/null-store.js';
import { banConfigOfPolicy } from '../../store/rows.js';
import type { PatternRow, Store } from '../../store/types.js';
import { type ApiDeps, actor, audit, fail } from './context.js';
import { durationFromBody, goDuration } from './format.js';
import { durationField } from './schemas.js';

type PatternInput = Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>;

const patternProps = {
  name: { type: 'string', minLength: 1, maxLength: 255 },
  regex: { type: 'string', minLength: 1, maxLength: 8192 },
  ip_group: { type: 'integer', minimum: 0, maximum: 99 },
  severity: { type: 'integer', minimum: 0, maximum: 10 },
  description: { type: 'string', maxLength: 2048 },
  enabled: { type: 'boolean' },
  raw: { type: 'boolean', description: 'match the raw syslog line instead of `tag: message`' },
  success: {
    type: 'boolean',
    description: 'a successful login line: the jail that claims the pattern resets the count of its address',
  },
  ignoreregex: {
    type: 'array',
    maxItems: 64,
    items: { type: 'string', minLength: 1, maxLength: 8192 },
    description:
      "fail2ban's ignoreregex: a line the pattern matches that one of these also matches does not count",
  },
  datepattern: {
    type: 'array',
    maxItems: 16,
    items: { type: 'string', minLength: 1, maxLength: 512 },
    description:
      "fail2ban's datepattern: on a line without a syslog header the date these templates find is cut out before the regex runs",
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
} as const;

/** Fields GET /api/patterns adds to each row: the matcher's view of it. */
const patternStateDoc =
  'Each row also carries `quarantined` (the run-time ReDoS guard took it out: `quarantined_since`, ' +
  '`quarantine_reason`; it stays out across reloads until its regex changes or ' +
  '`DELETE /api/patterns/{id}/quarantine` lifts it) and, for a row that does not compile, `error` ' +
  '(the row is skipped, the others apply).';

/** A stored row with what the matchers make of it (quarantine, compile error). */
function patternView(deps: ApiDeps, store: Store, rows: PatternRow[]): Record<string, unknown>[] {
  const q = patternHealthOf(deps.engine)?.quarantined() ?? new Map();
  const errors = new Map((store.configSource().patterns_rejected ?? []).map((e) => [e.id, e.error]));
  return rows.map((r) => {
    const entry = q.get(r.name);
    const out: Record<string, unknown> = {
      ...r,
      quarantined: entry !== undefined && entry.regex === r.regex,
    };
    if (out.quarantined && entry) {
      out.quarantined_since = new Date(entry.since).toISOString();
      out.quarantine_reason = entry.reason;
    }
    const err = errors.get(r.id);
    if (err !== undefined) out.error = err;
    return out;
  });
}

/** Without a database the API still talks to a Store: the empty one, which refuses what needs it (E_DB_DISABLED, 503). */
const NO_DATABASE = new NullStore('');

function storeOf(deps: ApiDeps): Store {
  return deps.store() ?? NO_DATABASE;
}

/**
 * Policy: /api/patterns (CRUD, in the store, hot-reloaded), /api/ban-config, and the reference's
 * status endpoints /config/source and /database/status. A pattern is compiled before it is
 * written, so a bad regex is a 400 naming it, never a broken reload.
 */
export function policyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // The store compiles every pattern, refuses a taken name (E_DUPLICATE) or the loss of the last
  // enabled pattern (E_LAST_PATTERN) and reloads the matchers after each change: the routes only
  // translate, and the error handler turns those codes into 409s (and E_DB_DISABLED, which the
  // empty store raises, and E_DB_UNAVAILABLE into 503s).
  app.get(
    '/api/patterns',
    {
      schema: { tags: ['policy'], summary: 'Patterns stored in the database', description: patternStateDoc },
    },
    async () => {
      const store = storeOf(deps);
      const patterns = patternView(deps, store, await store.listPatterns());
      return { success: true, count: patterns.length, patterns };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/api/patterns/:id',
    { schema: { tags: ['policy'], summary: 'One pattern', params: idParams } },
    async (req, reply) => {
      const store = storeOf(deps);
      const p = (await store.listPatterns()).find((x) => x.id === req.params.id);
      if (!p) return fail(reply, 404, `pattern ${req.params.id} not found`);
      return { success: true, pattern: patternView(deps, store, [p])[0] };
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/api/patterns/:id/quarantine',
    {
      schema: {
        tags: ['policy'],
        summary: 'Lift the quarantine of a pattern (the ReDoS guard took it out); it runs again at once',
        description:
          "A quarantine lasts across reloads until the pattern's regex changes or this call lifts it. " +
          '404 when the pattern does not exist or is not quarantined.',
        params: idParams,
      },
    },
    async (req, reply) => {
      const store = storeOf(deps);
      const p = (await store.listPatterns()).find((x) => x.id === req.params.id);
      if (!p) return fail(reply, 404, `pattern ${req.params.id} not found`);
      if (!patternHealthOf(deps.engine)?.lift(p.name))
        return fail(reply, 404, `pattern ${p.name} is not quarantined`);
      audit(deps, req, 'pattern-quarantine-lift', { pattern: p.name, id: p.id, created_by: actor(req) });
      return { success: true, message: `quarantine of pattern ${p.name} lifted` };
    },
  );

  app.post<{ Body: Partial<PatternInput> & { name: string; regex: string } }>(
    '/api/patterns',
    {
      schema: {
        tags: ['policy'],
        summary: 'Add a pattern (compiled first; reloaded into the matcher workers at once)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'regex'],
          properties: patternProps,
        },
      },
    },
    async (req, reply) => {
      const store = storeOf(deps);
      const spec = normalizeSpec(req.body);
      const row = await store.createPattern({ ...spec, ip_group: Number(spec.ip_group) });
      audit(deps, req, 'pattern-create', { pattern: row.name, id: row.id, created_by: actor(req) });
      return reply.code(201).send({ success: true, message: `pattern ${row.name} created`, pattern: row });
    },
  );

  app.put<{ Params: { id: number }; Body: Partial<PatternInput> }>(
    '/api/patterns/:id',
    {
      schema: {
        tags: ['policy'],
        summary: 'Change a pattern (fields given are replaced)',
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: patternProps },
      },
    },
    async (req, reply) => {
      const store = storeOf(deps);
      const row = await store.updatePattern(req.params.id, req.body);
      if (!row) return fail(reply, 404, `pattern ${req.params.id} not found`);
      audit(deps, req, 'pattern-update', {
        pattern: row.name,
        id: row.id,
        created_by: actor(req),
        fields: Object.keys(req.body),
      });
      return { success: true, message: `pattern ${row.name} updated`, pattern: row };
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/api/patterns/:id',
    { schema: { tags: ['policy'], summary: 'Delete a pattern', params: idParams } },
    async (req, reply) => {
      const store = storeOf(deps);
      if (!(await store.deletePattern(req.params.id)))
        return fail(reply, 404, `pattern ${req.params.id} not found`);
      audit(deps, req, 'pattern-delete', { id: req.params.id, created_by: actor(req) });
      return { success: true, message: `pattern ${req.params.id} deleted` };
    },
  );

  app.get(
    '/api/ban-config',
    { schema: { tags: ['policy'], summary: 'The ban policy in force' } },
    async () => {
      return {
        success: true,
        source: storeOf(deps).configSource().ban_config_source,
        ban_config: policyView(deps.engine.getPolicy()),
      };
    },
  );

  app.put<{ Body: Record<string, string | number | boolean | undefined> }>(
    '/api/ban-config',
    {
      schema: {
        tags: ['policy'],
        summary: 'Change the ban policy (validated, stored, reloaded without restart)',
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            initial_ban_time: durationField,
            max_ban_time: durationField,
            time_window: durationField,
            cleanup_interval: durationField,
            max_memory_ttl: durationField,
            escalation_factor: { type: 'number', exclusiveMinimum: 1, maximum: 100 },
            max_attempts: { type: 'integer', minimum: 1, maximum: 1_000_000 },
          },
        },
      },
    },
    async (req, reply) => {
      const next: BanPolicy = { ...deps.engine.getPolicy() };
      const durations = [
        'initial_ban_time',
        'max_ban_time',
        'time_window',
        'cleanup_interval',
        'max_memory_ttl',
      ] as const;
      const keyOf = {
        initial_ban_time: 'initialBanTime',
        max_ban_time: 'maxBanTime',
        time_window: 'timeWindow',
        cleanup_interval: 'cleanupInterval',
        max_memory_ttl: 'maxMemoryTtl',
      } as const;
      for (const k of durations) {
        const v = req.body[k];
        if (v === undefined) continue;
        const ms = durationFromBody(v);
        if (typeof ms === 'string' || ms <= 0)
          return fail(reply, 400, `body.${k}: ${typeof ms === 'string' ? ms : 'must be positive'}`, {
            field: k,
          });
        next[keyOf[k]] = ms;
      }
      if (req.body.escalation_factor !== undefined)
        next.escalationFactor = Number(req.body.escalation_factor);
      if (req.body.max_attempts !== undefined) next.maxAttempts = Number(req.body.max_attempts);
      if (next.maxBanTime < next.initialBanTime)
        return fail(reply, 400, 'body.max_ban_time: must not be shorter than initial_ban_time', {
          field: 'max_ban_time',
        });
      const store = storeOf(deps);
      let persistedTo = 'memory';
      if (store.databaseStatus().enabled) {
        // the store validates and writes the row, then reloads it into the engine
        await store.putBanConfig(banConfigOfPolicy('default', next));
        persistedTo = 'database';
      } else {
        // without a database the change holds until the next restart or SIGHUP
        deps.engine.setPolicy(next);
      }
      audit(deps, req, 'ban-config-update', {
        created_by: actor(req),
        fields: Object.keys(req.body),
        to: persistedTo,
      });
      return {
        success: true,
        message: `ban policy updated (${persistedTo})`,
        ban_config: policyView(deps.engine.getPolicy()),
      };
    },
  );

  app.get(
    '/config/source',
    { schema: { tags: ['status'], summary: 'Where patterns and the ban policy come from' } },
    async () => storeOf(deps).configSource(),
  );

  app.get(
    '/database/status',
    { schema: { tags: ['status'], summary: 'Database connection state' } },
    async () => storeOf(deps).databaseStatus(),
  );
}

function policyView(p: BanPolicy): Record<string, unknown> {
  const d = (ms: number) => goDuration(ms);
  const s = (ms: number) => Math.round(ms / 1000);
  return {
    initial_ban_time: d(p.initialBanTime),
    initial_ban_time_seconds: s(p.initialBanTime),
    max_ban_time: d(p.maxBanTime),
    max_ban_time_seconds: s(p.maxBanTime),
    escalation_factor: p.escalationFactor,
    max_attempts: p.maxAttempts,
    time_window: d(p.timeWindow),
    time_window_seconds: s(p.timeWindow),
    cleanup_interval: d(p.cleanupInterval),
    cleanup_interval_seconds: s(p.cleanupInterval),
    max_memory_ttl: d(p.maxMemoryTtl),
    max_memory_ttl_seconds: s(p.maxMemoryTtl),
  };
}
