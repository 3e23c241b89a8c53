import type { Kysely } from 'kysely';
import { toNum } from './rows.js';
import type { Database } from './schema.js';

/** A temporary ban made at or after some time, in force or ended: what recidive counts. */
export interface RecentBan {
  target: string;
  jail: string;
  createdAt: number;
  expiresAt: number | null;
}

/**
 * The temporary bans made since `sinceMs`, from `bans` (in force) and `ban_history` (ended), the
 * oldest first; at most `limit` of them, the newest kept. A ban that was replaced (extended) shows
 * as both rows; the counters that read these count one offence per jail while it holds.
 */
export async function readRecentBans(
  db: Kysely<Database>,
  sinceMs: number,
  limit: number,
): Promise<RecentBan[]> {
  const active = await db
    .selectFrom('bans')
    .select(['ip_address', 'jail', 'created_at_ms', 'expires_at_ms'])
    .where('kind', '=', 'temp')
    .where('created_at_ms', '>=', sinceMs)
    .orderBy('created_at_ms', 'desc')
    .limit(limit)
    .execute();
  // ended_at is indexed and never precedes created_at: it narrows the scan
  const ended = await db
    .selectFrom('ban_history')
    .select(['ip_address', 'jail', 'created_at_ms', 'expires_at_ms'])
    .where('kind', '=', 'temp')
    .where('ended_at_ms', '>=', sinceMs)
    .where('created_at_ms', '>=', sinceMs)
    .orderBy('ended_at_ms', 'desc')
    .limit(limit)
    .execute();
  const out: RecentBan[] = [];
  for (const r of [...active, ...ended])
    out.push({
      target: r.ip_address,
      jail: r.jail,
      createdAt: toNum(r.created_at_ms),
      expiresAt: r.expires_at_ms === null ? null : toNum(r.expires_at_ms),
    });
  out.sort((a, b) => a.createdAt - b.createdAt);
  return out.length > limit ? out.slice(out.length - limit) : out;
}
