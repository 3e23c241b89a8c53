import { SlotMap } from './slots.js';
import type { JailSpec } from './types.js';

/** Most bans one target's ring keeps: a `max_attempts` beyond it counts as this many. */
export const MAX_RING = 64;
/**
 * Typed-array bytes one jail's counter may take (they are allocated up front): a jail with long
 * rings follows fewer targets than asked rather than take more.
 */
export const JAIL_BYTES_BUDGET = 8 * 1024 * 1024;

/** Slots for `wanted` targets of `bytesEach` bytes within the budget (at least 1024). */
export function slotsWithin(wanted: number, bytesEach: number): number {
  return Math.max(1, Math.min(wanted, Math.max(1024, Math.floor(JAIL_BYTES_BUDGET / bytesEach))));
}

/** Ban n of a jail lasts min(initial × factor^(n−1), max), as the engine's escalation. */
export function jailBanDuration(
  spec: Pick<JailSpec, 'initialBanTime' | 'maxBanTime' | 'escalationFactor'>,
  n: number,
): number {
  const d = spec.initialBanTime * spec.escalationFactor ** Math.max(0, n - 1);
  return Math.min(d, spec.maxBanTime > 0 ? spec.maxBanTime : d);
}

/**
 * Bans of other jails per target within one window, for one recidive jail. Each target owns a
 * ring of its last `maxAttempts` bans (time, expiry, jail id) in typed arrays, and the number of
 * recidive bans it already had (escalation). At most `capacity` targets: the least recently
 * banned one is forgotten first, its escalation with it. Per target: ring × 18 bytes + 2, plus
 * the index entry (the target text, some 100 bytes).
 */
export class BanCounter {
  readonly ring: number;
  private readonly slots: SlotMap<string>;
  private readonly at: Float64Array;
  private readonly until: Float64Array;
  private readonly jail: Uint16Array;
  private readonly n: Uint8Array;
  private readonly level: Uint8Array;

  constructor(
    readonly maxAttempts: number,
    readonly window: number,
    capacity: number,
  ) {
    this.ring = Math.min(Math.max(1, Math.floor(maxAttempts)), MAX_RING);
    capacity = slotsWithin(capacity, this.ring * 18 + 2);
    this.slots = new SlotMap(capacity);
    this.at = new Float64Array(capacity * this.ring);
    this.until = new Float64Array(capacity * this.ring);
    this.jail = new Uint16Array(capacity * this.ring);
    this.n = new Uint8Array(capacity);
    this.level = new Uint8Array(capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  get capacity(): number {
    return this.slots.capacity;
  }

  get evictions(): number {
    return this.slots.evictions;
  }

  /**
   * One ban of `target` by jail `jailId`, made at `at`, lasting until `until`. A ban of the same
   * jail while its previous counted one still holds is the same offence seen twice (another
   * node's copy of a fleet-wide ban, an extension) and is not counted again. Returns the
   * recidive ban's number (1, 2... for its escalation) when this ban reaches `maxAttempts`,
   * and starts the count again; 0 otherwise.
   */
  observe(target: string, jailId: number, at: number, until: number): number {
    let s = this.slots.touch(target);
    if (s < 0) {
      s = this.slots.add(target);
      this.n[s] = 0;
      this.level[s] = 0;
    }
    const base = s * this.ring;
    // drop what left the window, keep the rest in order
    let kept = 0;
    const n = this.n[s];
    for (let i = 0; i < n; i++) {
      const t = this.at[base + i];
      if (t <= at - this.window) continue;
      if (this.jail[base + i] === jailId && this.until[base + i] > at) return 0;
      this.at[base + kept] = t;
      this.until[base + kept] = this.until[base + i];
      this.jail[base + kept] = this.jail[base + i];
      kept++;
    }
    if (kept === this.ring) {
      // full ring: the oldest goes (only with maxAttempts beyond MAX_RING)
      this.at.copyWithin(base, base + 1, base + kept);
      this.until.copyWithin(base, base + 1, base + kept);
      this.jail.copyWithin(base, base + 1, base + kept);
      kept--;
    }
    this.at[base + kept] = at;
    this.until[base + kept] = until;
    this.jail[base + kept] = jailId;
    kept++;
    if (kept < this.ring) {
      this.n[s] = kept;
      return 0;
    }
    this.n[s] = 0;
    if (this.level[s] < 255) this.level[s]++;
    return this.level[s];
  }

  /** Bans of `target` counted in the window ending at `now`. */
  count(target: string, now: number): number {
    const s = this.slots.touch(target);
    if (s < 0) return 0;
    let c = 0;
    for (let i = 0; i < this.n[s]; i++) if (this.at[s * this.ring + i] > now - this.window) c++;
    return c;
  }
}
