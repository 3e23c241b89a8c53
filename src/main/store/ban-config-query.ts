import type { Kysely } from 'kysely';
import { banConfigRowFrom } from './rows.js';
import type { Database } from './schema.js';
import type { BanConfigRow } from './types.js';

/** Enabled ban_config rows, newest first. */
export async function enabledBanConfigs(db: Kysely<Database>): Promise<BanConfigRow[]> {
  return (
    await db
      .selectFrom('ban_config')
      .selectAll()
      .where('enabled', '=', true)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute()
  ).map(banConfigRowFrom);
}

/** The policy in force: the row named 'default', else the newest enabled one. */
export function chosenBanConfig(rows: readonly BanConfigRow[]): BanConfigRow | null {
  return rows.find((r) => r.name === 'default') ?? rows[0] ?? null;
}
