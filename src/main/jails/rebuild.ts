/**
 * Recidive and subnet counts rebuilt at start. Both count bans, and the bans they count are in
 * the database (`bans` while in force, `ban_history` once ended), so a restart need not hand a
 * repeat offender a fresh allowance: the bans made within the longest window are replayed into
 * the counters in the order they were made, counted but never banned again (the bans that
 * replay reaches a threshold for were made then, and are restored with the rest).
 */
import type { BanRecord } from '../engine/types.js';
import { asError, type Logger } from '../log/logger.js';
import type { Store } from '../store/types.js';
import type { Recidive } from './recidive.js';
import type { SubnetBans } from './subnet.js';
import type { JailSpec } from './types.js';

/** Bans read for the rebuild at most (the newest kept): some 30 MB of rows at the worst. */
export const REBUILD_MAX_BANS = 262_144;

/** The longest window a ban-counting jail looks back over; 0 when no jail counts bans. */
export function banCountingWindow(jails: readonly JailSpec[]): number {
  let w = 0;
  for (const j of jails) {
    if (!j.enabled) continue;
    if (j.source === 'bans') w = Math.max(w, j.timeWindow);
    if (j.subnet) w = Math.max(w, j.subnet.window);
  }
  return w;
}

export interface RebuildDeps {
  store: Pick<Store, 'readRecentBans'>;
  recidive: Pick<Recidive, 'observe'>;
  subnet: Pick<SubnetBans, 'observe'>;
  jails: readonly JailSpec[];
  log: Logger;
  now?: number;
  maxBans?: number;
}

/** Replays the recent bans into the counters; returns how many were read (0 on failure). */
export async function rebuildBanCounts(d: RebuildDeps): Promise<number> {
  const window = banCountingWindow(d.jails);
  if (window <= 0) return 0;
  const now = d.now ?? Date.now();
  const max = d.maxBans ?? REBUILD_MAX_BANS;
  let bans: Awaited<ReturnType<Store['readRecentBans']>>;
  try {
    bans = await d.store.readRecentBans(now - window, max);
  } catch (err) {
    d.log.warn(
      { err: asError(err) },
      'recidive and subnet counts start afresh: the bans of their window could not be read',
    );
    return 0;
  }
  for (const b of bans) {
    const record: BanRecord = {
      target: b.target,
      kind: 'temp',
      reason: '',
      pattern: null,
      createdAt: b.createdAt,
      expiresAt: b.expiresAt,
      createdBy: 'engine',
      offences: 1,
      node: '',
      jail: b.jail,
    };
    d.recidive.observe(record, true);
    d.subnet.observe(record, true);
  }
  if (bans.length > 0)
    d.log.info(
      { bans: bans.length, capped: bans.length >= max, window_ms: window },
      'recidive and subnet counts rebuilt from the bans of their window',
    );
  return bans.length;
}
