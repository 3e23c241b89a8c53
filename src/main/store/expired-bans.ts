import type { Kysely } from 'kysely';
import { DEFAULT_JAIL } from '../engine/types.js';
import { type HistoryInsert, historyRowOf, insertHistory } from './history.js';
import { toNum } from './rows.js';
import type { Database } from './schema.js';

/**
 * Rows of bans that ran out this long ago are housekept. The engine reports the expiries it sees
 * itself to `ban_history` within a flush interval; the grace keeps this pass from racing it.
 */
export const EXPIRED_GRACE_MS = 2 * 60_000;
/** Rows one pass moves (the next reload takes the rest). */
const PASS_LIMIT = 5_000;

/**
 * Removes the `bans` rows whose time ran out before `now - EXPIRED_GRACE_MS`. With `keepHistory`,
 * each goes to `ban_history` as expired first, unless the engine already put it there: a ban that
 * expired while no edgeban ran (or before its sweep) is kept in the history, and recidive counts
 * it after a restart. Returns the rows moved into the history.
 */
export async function housekeepExpiredBans(
  db: Kysely<Database>,
  now: number,
  keepHistory: boolean,
): Promise<number> {
  const cutoff = now - EXPIRED_GRACE_MS;
  if (!keepHistory) {
    await db.deleteFrom('bans').where('expires_at_ms', '<=', cutoff).execute();
    return 0;
  }
  const rows = await db
    .selectFrom('bans')
    .selectAll()
    .where('expires_at_ms', '<=', cutoff)
    .orderBy('expires_at_ms')
    .limit(PASS_LIMIT)
    .execute();
  if (rows.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const missing: HistoryInsert[] = [];
    for (const r of rows) {
      const expiresAt = toNum(r.expires_at_ms);
      const h = historyRowOf({
        record: {
          target: r.ip_address,
          kind: 'temp',
          reason: r.reason,
          pattern: r.pattern,
          createdAt: toNum(r.created_at_ms),
          expiresAt,
          createdBy: r.created_by,
          offences: toNum(r.ban_count),
          node: r.node,
          jail: r.jail ?? DEFAULT_JAIL,
          services: r.services ? r.services.split(',') : [],
        },
        reason: 'expired',
        by: 'engine',
        at: expiresAt,
      });
      if (h === null) continue;
      const seen = await trx
        .selectFrom('ban_history')
        .select('id')
        .where('range_start', '=', h.range_start)
        .where('range_end', '=', h.range_end)
        .where('jail', '=', h.jail)
        .where('created_at_ms', '=', h.created_at_ms)
        .limit(1)
        .executeTakeFirst();
      if (seen === undefined) missing.push(h);
    }
    await insertHistory(trx, missing);
    for (const r of rows)
      await trx
        .deleteFrom('bans')
        .where('ip_address', '=', r.ip_address)
        .where('jail', '=', r.jail)
        .where('created_at_ms', '=', r.created_at_ms)
        .execute();
    return missing.length;
  });
}
