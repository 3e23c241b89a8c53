import type { Kysely } from 'kysely';
import { EdgebanError } from '../../shared/errors.js';
import { normalizeSpec } from '../../shared/patterns/compile.js';
import { PatternSet } from '../../shared/patterns/set.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { chosenBanConfig, enabledBanConfigs } from './ban-config-query.js';
import { DuplicatePatternError, LastPatternError, StoreUnavailableError } from './errors.js';
import type { Link } from './link.js';
import {
  banConfigRowFrom,
  listColumn,
  patternRowFrom,
  rowOfSpec,
  specOf,
  validateBanConfig,
} from './rows.js';
import type { Database } from './schema.js';
import type { BanConfigRow, PatternRow } from './types.js';

export type PatternInput = Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>;

/**
 * The API's editing of `patterns` and `ban_config`: every pattern is compiled before it is
 * written, names stay unique, the last enabled pattern stays, and each change is followed by a
 * reload so it is in force when the call returns.
 */
export class PolicyAdmin {
  constructor(
    private readonly link: Link,
    private readonly log: Logger,
    /** Re-reads the policy (the loader's reload). */
    private readonly reload: () => Promise<void>,
  ) {}

  /** Runs `fn`, counting it; a failure that turns out to be a lost database marks it down. */
  async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const link = this.link;
    try {
      const out = await fn();
      link.op(operation, 'success');
      return out;
    } catch (err) {
      link.op(operation, 'failure');
      if (err instanceof EdgebanError) throw err;
      const conn = link.current;
      if (conn && !(await link.alive(conn))) {
        link.fail(err, conn);
        throw new StoreUnavailableError(operation, err);
      }
      throw err;
    }
  }

  /** The reload after a change (its failure is logged: the periodic reload applies it later). */
  async afterChange(): Promise<void> {
    try {
      await this.reload();
    } catch (err) {
      this.log.warn(
        { err: asError(err) },
        'reload after a change failed; the next periodic reload applies it',
      );
    }
  }

  async listPatterns(): Promise<PatternRow[]> {
    const db = this.link.db('listing patterns');
    return this.guard('pattern_list', async () =>
      (await db.selectFrom('patterns').selectAll().orderBy('id').execute()).map(patternRowFrom),
    );
  }

  private async patternById(db: Kysely<Database>, id: number): Promise<PatternRow | null> {
    const r = await db.selectFrom('patterns').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? patternRowFrom(r) : null;
  }

  /** Pattern names are unique: DuplicatePatternError when `name` is taken. */
  private async refuseTakenName(db: Kysely<Database>, name: string): Promise<void> {
    const dup = await db.selectFrom('patterns').select('id').where('name', '=', name).executeTakeFirst();
    if (dup) throw new DuplicatePatternError(name);
  }

  async createPattern(p: PatternInput): Promise<PatternRow> {
    const db = this.link.db('creating a pattern');
    const spec = normalizeSpec({
      ...p,
      raw: p.raw === true,
      success: p.success === true,
      backtracking: p.backtracking === true,
    });
    new PatternSet(0, [{ ...spec, enabled: true }]); // throws PatternError naming it
    const row = await this.guard('pattern_create', async () => {
      await this.refuseTakenName(db, spec.name);
      await db
        .insertInto('patterns')
        .values({
          name: spec.name,
          regex: spec.regex,
          ip_group: Number(rowOfSpec(spec).ip_group),
          severity: spec.severity,
          description: spec.description,
          enabled: spec.enabled,
          raw: spec.raw,
          success: spec.success === true,
          backtracking: spec.backtracking === true,
          ignoreregex: listColumn(spec.ignoreregex),
          datepattern: listColumn(spec.datepattern),
        })
        .execute();
      const r = await db
        .selectFrom('patterns')
        .selectAll()
        .where('name', '=', spec.name)
        .executeTakeFirstOrThrow();
      return patternRowFrom(r);
    });
    this.log.info({ pattern: row.name, id: row.id }, 'pattern created');
    await this.afterChange();
    return row;
  }

  async updatePattern(id: number, p: Partial<PatternInput>): Promise<PatternRow | null> {
    const db = this.link.db('updating a pattern');
    const row = await this.guard('pattern_update', async () => {
      const cur = await this.patternById(db, id);
      if (!cur) return null;
      const merged: PatternRow = { ...cur, ...stripUndefined(p), id: cur.id };
      // a new list replaces a column that did not read
      if (p.ignoreregex !== undefined) delete merged.ignoreregexInvalid;
      if (p.datepattern !== undefined) delete merged.datepatternInvalid;
      const spec = normalizeSpec(specOf(merged));
      new PatternSet(0, [{ ...spec, enabled: true }]);
      if (cur.enabled && !merged.enabled) await this.ensureAnotherEnabled(db, cur);
      if (merged.name !== cur.name) await this.refuseTakenName(db, merged.name);
      await db
        .updateTable('patterns')
        .set({
          name: merged.name,
          regex: merged.regex,
          ip_group: Number(rowOfSpec(spec).ip_group),
          severity: merged.severity,
          description: merged.description,
          enabled: merged.enabled,
          raw: merged.raw === true,
          success: merged.success === true,
          backtracking: merged.backtracking === true,
          ignoreregex: listColumn(spec.ignoreregex),
          datepattern: listColumn(spec.datepattern),
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .execute();
      return this.patternById(db, id);
    });
    if (row) {
      this.log.info({ pattern: row.name, id }, 'pattern updated');
      await this.afterChange();
    }
    return row;
  }

  async deletePattern(id: number): Promise<boolean> {
    const db = this.link.db('deleting a pattern');
    const done = await this.guard('pattern_delete', async () => {
      const cur = await this.patternById(db, id);
      if (!cur) return false;
      if (cur.enabled) await this.ensureAnotherEnabled(db, cur);
      await db.deleteFrom('patterns').where('id', '=', id).execute();
      return true;
    });
    if (done) {
      this.log.info({ id }, 'pattern deleted');
      await this.afterChange();
    }
    return done;
  }

  private async ensureAnotherEnabled(db: Kysely<Database>, cur: PatternRow): Promise<void> {
    const r = await db
      .selectFrom('patterns')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('enabled', '=', true)
      .where('id', '!=', cur.id)
      .executeTakeFirst();
    if (Number(r?.n ?? 0) === 0) throw new LastPatternError(cur.name);
  }

  async getBanConfig(name?: string): Promise<BanConfigRow | null> {
    const db = this.link.db('reading ban_config');
    return this.guard('ban_config_get', async () => {
      if (name === undefined) return chosenBanConfig(await enabledBanConfigs(db));
      const r = await db.selectFrom('ban_config').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? banConfigRowFrom(r) : null;
    });
  }

  async putBanConfig(row: BanConfigRow): Promise<BanConfigRow> {
    validateBanConfig(row);
    const db = this.link.db('writing ban_config');
    const out = await this.guard('ban_config_put', async () => {
      const values = {
        initial_ban_time_seconds: row.initial_ban_time_seconds,
        max_ban_time_seconds: row.max_ban_time_seconds,
        escalation_factor: row.escalation_factor,
        max_attempts: row.max_attempts,
        time_window_seconds: row.time_window_seconds,
        cleanup_interval_seconds: row.cleanup_interval_seconds,
        max_memory_ttl_seconds: row.max_memory_ttl_seconds,
        enabled: row.enabled,
      };
      const cur = await db
        .selectFrom('ban_config')
        .select('id')
        .where('name', '=', row.name)
        .executeTakeFirst();
      if (cur)
        await db
          .updateTable('ban_config')
          .set({ ...values, updated_at: new Date() })
          .where('id', '=', cur.id)
          .execute();
      else
        await db
          .insertInto('ban_config')
          .values({ name: row.name, ...values })
          .execute();
      const r = await db
        .selectFrom('ban_config')
        .selectAll()
        .where('name', '=', row.name)
        .executeTakeFirstOrThrow();
      return banConfigRowFrom(r);
    });
    this.log.info({ ban_config: out }, 'ban_config written');
    await this.afterChange();
    return out;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
