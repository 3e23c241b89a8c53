import type { SpoaConnection } from './connection.js';

/** A connection idle for less than this is in use: it is never evicted for a newcomer. */
export const EVICT_MIN_IDLE_MS = 1000;

/**
 * A connection that never sent a NOTIFY may be evicted once it is this old: HAProxy sends its
 * first NOTIFY right after HELLO, so a peer that only said HELLO is the likeliest squatter, and
 * a refused HAProxy connection fails open.
 */
export const EVICT_SILENT_AFTER_MS = 200;

export type Refusal = 'max_clients' | 'max_clients_per_source';

/**
 * Who holds a slot: every open connection, grouped by peer address. When a limit is reached the
 * newcomer takes the place of the connection idle the longest (no HELLO or NOTIFY for a while,
 * no frame half read), so peers that connect and then say nothing cannot lock HAProxy out.
 */
export class Admission {
  readonly all = new Set<SpoaConnection>();
  private readonly bySource = new Map<string, Set<SpoaConnection>>();

  get sources(): number {
    return this.bySource.size;
  }

  countFrom(source: string): number {
    return this.bySource.get(source)?.size ?? 0;
  }

  add(c: SpoaConnection): void {
    this.all.add(c);
    let set = this.bySource.get(c.source);
    if (set === undefined) {
      set = new Set();
      this.bySource.set(c.source, set);
    }
    set.add(c);
  }

  /** Idempotent: a connection leaves once, whoever notices first. */
  remove(c: SpoaConnection): void {
    if (!this.all.delete(c)) return;
    const set = this.bySource.get(c.source);
    if (set === undefined) return;
    set.delete(c);
    if (set.size === 0) this.bySource.delete(c.source);
  }

  /**
   * What a new connection from `source` needs: null (room), a connection to evict first, or
   * the limit that refuses it (nobody idle enough to make room).
   */
  decide(
    source: string,
    now: number,
    maxClients: number,
    maxPerSource: number,
  ): SpoaConnection | Refusal | null {
    const mine = this.bySource.get(source);
    if (mine !== undefined && mine.size >= maxPerSource)
      return longestIdle(mine, now) ?? 'max_clients_per_source';
    if (this.all.size >= maxClients) return longestIdle(this.all, now) ?? 'max_clients';
    return null;
  }
}

/** Linear scan, only when a limit is reached: a few thousand connections at most. */
function longestIdle(set: Set<SpoaConnection>, now: number): SpoaConnection | null {
  let best: SpoaConnection | null = null;
  // first choice: the oldest peer that never asked anything
  for (const c of set) {
    if (c.notified || c.partialSince !== 0 || now - c.openedAt < EVICT_SILENT_AFTER_MS) continue;
    if (best === null || c.openedAt < best.openedAt) best = c;
  }
  if (best !== null) return best;
  for (const c of set) {
    if (c.partialSince !== 0 || now - c.lastUse < EVICT_MIN_IDLE_MS) continue;
    if (best === null || c.lastUse < best.lastUse) best = c;
  }
  return best;
}
