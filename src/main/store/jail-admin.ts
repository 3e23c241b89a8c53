import type { Kysely } from 'kysely';
import { JailExistsError, JailInvalidError } from '../jails/errors.js';
import {
  checkJailFields,
  checkJailWhole,
  completeJail,
  type JailInput,
  jailNameProblem,
  MAX_JAILS,
} from '../jails/fields.js';
import type { Logger } from '../log/logger.js';
import { jailFromRow, jailValues, type RawJailRow, type StoredJail } from './jail-rows.js';
import type { Link } from './link.js';
import type { PolicyAdmin } from './policy-admin.js';
import type { Database } from './schema.js';
import type { JailRowError } from './types.js';

/**
 * The API's editing of `jails`: every jail is checked as the config file's are before it is
 * written, names stay unique, and each change is followed by a reload so it is in force (in
 * engine.getJails()) when the call returns.
 */
export class JailAdmin {
  constructor(
    private readonly link: Link,
    private readonly log: Logger,
    private readonly policy: Pick<PolicyAdmin, 'guard' | 'afterChange'>,
  ) {}

  /** Every row, the ones that do not validate included (with `error`), by name. */
  async listJails(): Promise<(StoredJail | JailRowError)[]> {
    const db = this.link.db('listing jails');
    return this.policy.guard('jail_list', async () => {
      const rows = (await db.selectFrom('jails').selectAll().orderBy('name').execute()) as RawJailRow[];
      return rows.map((r) => {
        const j = jailFromRow(r);
        return 'jail' in j ? j.jail : { name: r.name, id: Number(r.id), error: j.error };
      });
    });
  }

  private async byName(db: Kysely<Database>, name: string): Promise<RawJailRow | undefined> {
    return (await db.selectFrom('jails').selectAll().where('name', '=', name).executeTakeFirst()) as
      | RawJailRow
      | undefined;
  }

  async createJail(input: JailInput): Promise<StoredJail> {
    const j = checked(input.name, input);
    const db = this.link.db('creating a jail');
    const row = await this.policy.guard('jail_create', async () => {
      if (await this.byName(db, j.name)) throw new JailExistsError(j.name);
      const n = await db
        .selectFrom('jails')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      if (Number(n?.n ?? 0) >= MAX_JAILS)
        throw new JailInvalidError(j.name, [
          { field: 'name', expected: `at most ${MAX_JAILS} jails in the database`, found: `${Number(n?.n)}` },
        ]);
      await db.insertInto('jails').values(jailValues(j)).execute();
      return this.read(db, j.name);
    });
    this.log.info({ jail: row.name, id: row.id }, 'jail created');
    await this.policy.afterChange();
    return row;
  }

  /** The fields given replace the stored ones (null: back to the `ban:` value); null when there is no such jail. */
  async updateJail(name: string, fields: Record<string, unknown>): Promise<StoredJail | null> {
    const db = this.link.db('updating a jail');
    const row = await this.policy.guard('jail_update', async () => {
      const cur = await this.byName(db, name);
      if (!cur) return null;
      const parsed = jailFromRow(cur);
      // a row that does not validate can be repaired by a PUT: start from the defaults
      const base: JailInput = 'jail' in parsed ? parsed.jail : completeJail({ name });
      const patch = checkJailFields(name, fields, true);
      if (patch.problems.length > 0) throw new JailInvalidError(name, patch.problems);
      const merged = checked(name, { ...stripMeta(base), ...patch.value, name });
      await db
        .updateTable('jails')
        .set({ ...jailValues(merged), updated_at: new Date() })
        .where('name', '=', name)
        .execute();
      return this.read(db, name);
    });
    if (row) {
      this.log.info({ jail: name, fields: Object.keys(fields) }, 'jail updated');
      await this.policy.afterChange();
    }
    return row;
  }

  async deleteJail(name: string): Promise<boolean> {
    const db = this.link.db('deleting a jail');
    const done = await this.policy.guard('jail_delete', async () => {
      if (!(await this.byName(db, name))) return false;
      await db.deleteFrom('jails').where('name', '=', name).execute();
      return true;
    });
    if (done) {
      this.log.info({ jail: name }, 'jail deleted');
      await this.policy.afterChange();
    }
    return done;
  }

  private async read(db: Kysely<Database>, name: string): Promise<StoredJail> {
    const r = await this.byName(db, name);
    const j = r ? jailFromRow(r) : { error: 'row vanished' };
    if ('error' in j) throw new Error(`jail ${name} as written does not read back: ${j.error}`);
    return j.jail;
  }
}

/** The jail validated as a whole (field checks and cross-field ones); JailInvalidError otherwise. */
function checked(name: string, input: Partial<JailInput>): JailInput {
  const bad = jailNameProblem(name);
  if (bad) throw new JailInvalidError(name, [{ field: 'name', expected: bad, found: JSON.stringify(name) }]);
  const c = checkJailFields(name, toKeys(input));
  if (c.problems.length > 0) throw new JailInvalidError(name, c.problems);
  const j = completeJail(c.value);
  const whole = checkJailWhole(j);
  if (whole.length > 0) throw new JailInvalidError(name, whole);
  return j;
}

/** A JailInput as the keys checkJailFields reads (durations in ms become `NNNms` text). */
function toKeys(j: Partial<JailInput>): Record<string, unknown> {
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? v : `${v}ms`);
  const out: Record<string, unknown> = { ...j };
  delete out.name;
  for (const k of ['time_window', 'initial_ban_time', 'max_ban_time'] as const) out[k] = ms(j[k]);
  if (j.subnet) out.subnet = { ...j.subnet, window: ms(j.subnet.window) };
  return stripUndefined(out);
}

function stripMeta(j: JailInput & Partial<Pick<StoredJail, 'id' | 'created_at' | 'updated_at'>>): JailInput {
  const { id: _id, created_at: _c, updated_at: _u, ...rest } = j;
  return rest;
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}
