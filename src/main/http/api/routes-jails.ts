import type { FastifyInstance } from 'fastify';
import { MAX_SERVICES } from '../../../shared/bantable/services.js';
import { defaultJail } from '../../jails/default-jail.js';
import { JailConfigOwnedError, JailInvalidError } from '../../jails/errors.js';
import {
  checkJailFields,
  completeJail,
  MAX_JAIL_NAME,
  MAX_JAIL_PATTERNS,
  MAX_SOURCE_JAILS,
} from '../../jails/fields.js';
import { resolveJail } from '../../jails/resolve.js';
import { DEFAULT_JAIL, type JailSpec } from '../../jails/types.js';
import type { StoredJail } from '../../store/jail-rows.js';
import { NullStore } from '../../store/null-store.js';
import type { JailRowError, Store } from '../../store/types.js';
import { type ApiDeps, actor, audit, fail } from './context.js';
import { goDuration } from './format.js';
import { durationField } from './schemas.js';

const jailDuration = {
  ...durationField,
  description: 'a duration string or a number of seconds; null or absent = the ban: value',
  example: '10m',
} as const;
const nameField = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_JAIL_NAME,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
  example: 'sshd',
} as const;

/** The jail keys, as in the config file's `jails.<name>` (snake_case). */
const jailProps = {
  patterns: {
    type: 'array',
    maxItems: MAX_JAIL_PATTERNS,
    items: { type: 'string', minLength: 1, maxLength: 255 },
    description: 'pattern names or globs (sshd-*); the first jail by name order claims a pattern',
    example: ['sshd-*'],
  },
  max_attempts: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000, example: 3 },
  time_window: jailDuration,
  initial_ban_time: { ...jailDuration, example: '1h' },
  max_ban_time: { ...jailDuration, example: '24h' },
  escalation_factor: { type: ['number', 'null'], exclusiveMinimum: 1, maximum: 100, example: 2 },
  enabled: { type: 'boolean' },
  services: {
    type: 'array',
    maxItems: MAX_SERVICES,
    items: { type: 'string', minLength: 1, maxLength: 32 },
    description: 'the services the ban applies to (ssh, imap, smtp, http...); empty = every service',
    example: ['ssh'],
  },
  weight: { type: 'string', enum: ['1', 'one', 'severity'], description: 'what one line counts' },
  source: { type: 'string', enum: ['logs', 'bans'], description: 'bans: counts the bans of other jails' },
  source_jails: {
    type: 'array',
    maxItems: MAX_SOURCE_JAILS,
    items: { type: 'string', minLength: 1, maxLength: MAX_JAIL_NAME },
  },
  mode: { type: 'string', enum: ['enforce', 'shadow'], description: 'shadow: reports, never bans' },
  subnet: {
    type: ['object', 'null'],
    additionalProperties: false,
    required: ['addresses'],
    properties: {
      prefix: { type: 'integer', minimum: 8, maximum: 31, example: 24 },
      addresses: { type: 'integer', minimum: 2, maximum: 65536, example: 5 },
      window: { ...jailDuration, example: '1h' },
    },
  },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: nameField },
} as const;

const JAILS_DOC =
  'Jails of the config file (`origin: config`, read-only here: 409 E_JAIL_CONFIG_OWNED) and of ' +
  'the database (`origin: database`, writable; a database jail overrides a config jail of the ' +
  'same name), and the `default` jail: the ban: policy of every pattern no jail claims. Values ' +
  'are the ones in force (a key a jail does not set takes the ban: value). A database row that ' +
  'does not validate is listed with its `error` and is not in force.';

const NO_DATABASE = new NullStore('');

function storeOf(deps: ApiDeps): Store {
  return deps.store() ?? NO_DATABASE;
}

/** A jail as the API shows it: the config keys, durations as text and seconds. */
function jailView(j: JailSpec, row?: StoredJail): Record<string, unknown> {
  const d = (ms: number) => goDuration(ms);
  const s = (ms: number) => Math.round(ms / 1000);
  return {
    name: j.name,
    origin: j.origin,
    enabled: j.enabled,
    patterns: j.patterns,
    max_attempts: j.maxAttempts,
    time_window: d(j.timeWindow),
    time_window_seconds: s(j.timeWindow),
    initial_ban_time: d(j.initialBanTime),
    initial_ban_time_seconds: s(j.initialBanTime),
    max_ban_time: d(j.maxBanTime),
    max_ban_time_seconds: s(j.maxBanTime),
    escalation_factor: j.escalationFactor,
    services: j.services,
    weight: j.weight,
    source: j.source,
    source_jails: j.sourceJails,
    mode: j.mode,
    subnet: j.subnet
      ? {
          prefix: j.subnet.prefixV4,
          addresses: j.subnet.addresses,
          window: d(j.subnet.window),
          window_seconds: s(j.subnet.window),
        }
      : null,
    logpath: j.logpath,
    ...(row ? { id: row.id, created_at: row.created_at, updated_at: row.updated_at } : {}),
  };
}

/** Database rows, or none without a database (the config's jails are still listed). */
async function storedRows(store: Store): Promise<(StoredJail | JailRowError)[]> {
  if (!store.databaseStatus().enabled) return [];
  return store.listJails();
}

/** Every jail: in force (engine), the database rows not in force (errors), then `default`. */
async function allJails(deps: ApiDeps): Promise<Record<string, unknown>[]> {
  const rows = await storedRows(storeOf(deps));
  const byName = new Map(rows.map((r) => [r.name, r]));
  const out: Record<string, unknown>[] = [];
  const shown = new Set<string>();
  for (const j of deps.engine.getJails()) {
    const row = j.origin === 'database' ? byName.get(j.name) : undefined;
    out.push(jailView(j, row && !('error' in row) ? row : undefined));
    shown.add(j.name);
  }
  for (const r of rows) {
    if (shown.has(r.name)) continue;
    if ('error' in r) out.push({ name: r.name, origin: 'database', id: r.id, error: r.error });
    // written but not yet in force (a reload still to come): shown as stored
    else out.push(jailView(resolveJail(r, deps.engine.getPolicy(), 'database'), r));
  }
  out.push(jailView(defaultJail(deps.engine.getPolicy())));
  return out;
}

/** Refuses a change to a jail the API does not own: the default jail, a config file's jail. */
function refuseOwned(deps: ApiDeps, name: string): void {
  if (name.toLowerCase() === DEFAULT_JAIL) throw new JailConfigOwnedError(name, 'default');
  const inForce = deps.engine.getJails().find((j) => j.name === name);
  if (inForce?.origin === 'config') throw new JailConfigOwnedError(name, 'config');
}

/**
 * /api/jails: list, read, create, change and delete jails. Writes go to the database (503
 * E_DB_DISABLED without one) and are in force when the call returns (the same reload a pattern
 * change makes). Bodies are checked as the config file's jails are (400 E_JAIL naming the key).
 */
export function jailRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get(
    '/api/jails',
    {
      schema: {
        tags: ['policy'],
        summary: 'Jails in force (config file, database, default)',
        description: JAILS_DOC,
      },
    },
    async () => {
      const jails = await allJails(deps);
      return { success: true, count: jails.length, jails };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/jails/:name',
    { schema: { tags: ['policy'], summary: 'One jail', params: nameParams } },
    async (req, reply) => {
      const j = (await allJails(deps)).find((x) => x.name === req.params.name);
      if (!j) return fail(reply, 404, `jail ${req.params.name} not found`);
      return { success: true, jail: j };
    },
  );

  app.post<{ Body: Record<string, unknown> & { name: string } }>(
    '/api/jails',
    {
      schema: {
        tags: ['policy'],
        summary: 'Add a jail to the database (checked first; in force when the call returns)',
        description: 'Keys as in the config file; a key left out takes the ban: value or its default.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: nameField, ...jailProps },
        },
      },
    },
    async (req, reply) => {
      const { name, ...fields } = req.body;
      refuseOwned(deps, name);
      const c = checkJailFields(name, fields);
      if (c.problems.length > 0) throw new JailInvalidError(name, c.problems);
      const row = await storeOf(deps).createJail(completeJail(c.value));
      audit(deps, req, 'jail-create', { jail: row.name, id: row.id, created_by: actor(req) });
      const inForce = deps.engine.getJails().find((j) => j.name === row.name);
      return reply.code(201).send({
        success: true,
        message: `jail ${row.name} created`,
        jail: jailView(inForce ?? resolveJail(row, deps.engine.getPolicy(), 'database'), row),
      });
    },
  );

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/api/jails/:name',
    {
      schema: {
        tags: ['policy'],
        summary: 'Change a database jail (keys given are replaced; null = back to the ban: value)',
        params: nameParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: jailProps },
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      refuseOwned(deps, name);
      const row = await storeOf(deps).updateJail(name, req.body);
      if (!row) return fail(reply, 404, `jail ${name} not found`);
      audit(deps, req, 'jail-update', { jail: name, created_by: actor(req), fields: Object.keys(req.body) });
      const inForce = deps.engine.getJails().find((j) => j.name === name);
      return {
        success: true,
        message: `jail ${name} updated`,
        jail: jailView(inForce ?? resolveJail(row, deps.engine.getPolicy(), 'database'), row),
      };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/jails/:name',
    {
      schema: {
        tags: ['policy'],
        summary: 'Delete a database jail (its bans stay until they expire; its patterns go back to default)',
        params: nameParams,
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      refuseOwned(deps, name);
      if (!(await storeOf(deps).deleteJail(name))) return fail(reply, 404, `jail ${name} not found`);
      audit(deps, req, 'jail-delete', { jail: name, created_by: actor(req) });
      return { success: true, message: `jail ${name} deleted` };
    },
  );
}
