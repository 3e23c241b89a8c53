import { type Insertable, type Kysely, sql } from 'kysely';
import type { DialectName } from './connect.js';
import type { Database } from './schema.js';

/** What an insert does when the key exists already. */
export type OnConflict =
  /** keep the existing row */
  | { ignore: true }
  /** overwrite these columns with the inserted row's values */
  | { copy: readonly string[] }
  /** overwrite with these values */
  | { set: Record<string, unknown> };

/**
 * INSERT … with a conflict rule, in the dialect's words: MySQL/MariaDB say `INSERT IGNORE` and
 * `ON DUPLICATE KEY UPDATE col = VALUES(col)`, SQLite and PostgreSQL `ON CONFLICT (key) DO
 * NOTHING` and `DO UPDATE SET col = excluded.col`. `key` is the unique column (or columns) MySQL
 * infers itself.
 */
export async function upsert<T extends keyof Database & string>(
  db: Kysely<Database>,
  dialect: DialectName,
  table: T,
  rows: Insertable<Database[T]> | Insertable<Database[T]>[],
  key: string | readonly string[],
  on: OnConflict,
): Promise<void> {
  const q = db.insertInto(table).values(rows as never);
  if (dialect === 'mysql') {
    if ('ignore' in on) await q.ignore().execute();
    else await q.onDuplicateKeyUpdate(updateOf(on, (c) => sql`values(${sql.ref(c)})`) as never).execute();
    return;
  }
  await q
    .onConflict((oc) => {
      const target = typeof key === 'string' ? oc.column(key as never) : oc.columns(key as never);
      if ('ignore' in on) return target.doNothing();
      return target.doUpdateSet(updateOf(on, (c) => sql.ref(`excluded.${c}`)) as never);
    })
    .execute();
}

function updateOf(
  on: { copy: readonly string[] } | { set: Record<string, unknown> },
  fromRow: (column: string) => unknown,
): Record<string, unknown> {
  if ('set' in on) return on.set;
  const out: Record<string, unknown> = {};
  for (const c of on.copy) out[c] = fromRow(c);
  return out;
}
