import type { Kysely } from 'kysely';
import { normalizeSpec, type PatternSpec } from '../../shared/patterns/compile.js';
import type { BanPolicy } from '../engine/types.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import type { DialectName } from './connect.js';
import { banConfigOfPolicy, listColumn, rowOfSpec } from './rows.js';
import type { Database } from './schema.js';
import type { PatternRow } from './types.js';
import { upsert } from './upsert.js';

/** What an empty database starts with: the file's patterns (or the built-ins) and ban policy. */
export interface SeedData {
  patterns: readonly PatternSpec[];
  policy: BanPolicy;
}

/**
 * Fills an empty `patterns` or `ban_config` table from the configuration; a table with rows is
 * left alone. Inserts ignore a name another node seeded at the same moment.
 */
export async function seedDatabase(
  db: Kysely<Database>,
  dialect: DialectName,
  seed: SeedData,
  log: Logger,
): Promise<void> {
  const count = async (t: 'patterns' | 'ban_config') =>
    Number(
      (
        await db
          .selectFrom(t)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst()
      )?.n ?? 0,
    );
  if ((await count('patterns')) === 0) {
    const rows: Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>[] = [];
    for (const s of seed.patterns) {
      try {
        rows.push(rowOfSpec(normalizeSpec(s)));
      } catch (err) {
        log.warn({ pattern: s.name, err: asError(err) }, 'pattern not seeded into the database');
      }
    }
    for (const r of rows) {
      const values = {
        name: r.name,
        regex: r.regex,
        ip_group: r.ip_group,
        severity: r.severity,
        description: r.description,
        enabled: r.enabled,
        raw: r.raw === true,
        success: r.success === true,
        backtracking: r.backtracking === true,
        ignoreregex: listColumn(r.ignoreregex),
        datepattern: listColumn(r.datepattern),
      };
      await upsert(db, dialect, 'patterns', values, 'name', { ignore: true });
    }
    log.info(
      { patterns: rows.map((r) => r.name) },
      'database had no patterns: seeded from the configuration',
    );
  }
  if ((await count('ban_config')) === 0) {
    const row = banConfigOfPolicy('default', seed.policy);
    await upsert(db, dialect, 'ban_config', { ...row }, 'name', { ignore: true });
    log.info({ ban_config: row }, "database had no ban_config: seeded 'default' from the configuration");
  }
}
