import { randomBytes } from 'node:crypto';

/** Counters per word: 4 bits each. */
const PER_WORD = 8;
/** Smallest table (words): small trackers would otherwise see many false high estimates. */
const MIN_WORDS = 1 << 14;
const MAX_COUNT = 15;

/**
 * How often a key was seen recently, approximately: a count-min sketch of 4-bit counters (four
 * per key, double hashing over one Uint32Array, conservative update) whose counts are all halved
 * after `10 × capacity` increments, so old popularity fades. It remembers addresses the tracker
 * no longer holds, which is what lets a slow repeat offender win a slot over one-shot noise.
 * Estimates only ever err high (collisions), never low before a halving.
 */
export class FrequencySketch {
  private readonly table: Uint32Array;
  private readonly mask: number;
  private readonly period: number;
  private readonly seed: number;
  private samples = 0;
  /** Counter positions of the last key hashed (no array per call). */
  private readonly at = new Int32Array(4);

  constructor(capacity: number) {
    let words = MIN_WORDS;
    while (words < capacity) words <<= 1;
    this.table = new Uint32Array(words);
    this.mask = words * PER_WORD - 1;
    this.period = 10 * Math.max(1, capacity);
    // seeded apart from the tracker's index, so nobody outside can aim addresses at one counter
    this.seed = randomBytes(4).readUInt32LE(0);
  }

  /** Counts one sighting of the key (`k[off..off+3]`, family) and returns its estimate after it. */
  increment(family: number, k: Uint32Array, off: number): number {
    this.positions(family, k, off);
    const t = this.table;
    const at = this.at;
    let min = MAX_COUNT;
    for (let i = 0; i < 4; i++) {
      const c = at[i];
      const v = (t[c >>> 3] >>> ((c & 7) << 2)) & 0xf;
      if (v < min) min = v;
    }
    if (min < MAX_COUNT) {
      // conservative update: only the counters at the minimum grow, which keeps collisions from
      // inflating the estimates of other keys sharing a counter
      for (let i = 0; i < 4; i++) {
        const c = at[i];
        const sh = (c & 7) << 2;
        if (((t[c >>> 3] >>> sh) & 0xf) === min) t[c >>> 3] += 1 << sh;
      }
      min++;
    }
    if (++this.samples >= this.period) this.halve();
    return min;
  }

  /** The estimate for the key without counting it. */
  estimate(family: number, k: Uint32Array, off: number): number {
    this.positions(family, k, off);
    const t = this.table;
    const at = this.at;
    let min = MAX_COUNT;
    for (let i = 0; i < 4; i++) {
      const c = at[i];
      const v = (t[c >>> 3] >>> ((c & 7) << 2)) & 0xf;
      if (v < min) min = v;
    }
    return min;
  }

  /** Forget everything. */
  clear(): void {
    this.table.fill(0);
    this.samples = 0;
  }

  private halve(): void {
    const t = this.table;
    for (let i = 0; i < t.length; i++) t[i] = (t[i] >>> 1) & 0x77777777;
    this.samples = 0;
  }

  private positions(family: number, k: Uint32Array, off: number): void {
    let h = this.seed ^ Math.imul(family, 0x27d4eb2d);
    for (let i = 0; i < 4; i++) {
      h = Math.imul(h ^ k[off + i], 0xcc9e2d51);
      h = (h << 15) | (h >>> 17);
      h = Math.imul(h, 0x1b873593);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    // second hash for double hashing; odd so the four positions differ
    let g = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
    g ^= g >>> 16;
    g |= 1;
    const m = this.mask;
    const at = this.at;
    for (let i = 0; i < 4; i++) at[i] = (h + Math.imul(i, g)) & m;
  }
}
