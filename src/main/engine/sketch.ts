import { randomBytes } from 'node:crypto';

/** Words per 64-byte block: a key's four counters sit in one block (one cache line). */
const BLOCK_WORDS = 16;
/** Smallest table (words): small trackers would otherwise see many false high estimates. */
const MIN_WORDS = 1 << 14;
const MAX_COUNT = 15;

/**
 * How often a key was seen recently, approximately: a count-min sketch of 4-bit counters (four
 * per key, in one 64-byte block of a Uint32Array, one per quarter of it; conservative update)
 * whose counts are all halved
 * after `10 × capacity` increments, so old popularity fades. It remembers addresses the tracker
 * no longer holds, which is what lets a slow repeat offender win a slot over one-shot noise.
 * Estimates only ever err high (collisions), never low before a halving.
 */
export class FrequencySketch {
  private readonly table: Uint32Array;
  private readonly blockMask: number;
  private readonly period: number;
  private readonly seed: number;
  private samples = 0;

  constructor(capacity: number, seed?: number) {
    let words = MIN_WORDS;
    while (words < 2 * capacity) words <<= 1;
    this.table = new Uint32Array(words);
    this.blockMask = words / BLOCK_WORDS - 1;
    this.period = 10 * Math.max(1, capacity);
    // seeded apart from the tracker's index, so nobody outside can aim addresses at one counter
    this.seed = seed ?? randomBytes(4).readUInt32LE(0);
  }

  /** Counts one sighting of the key (`k[off..off+3]`, family) and returns its estimate after it. */
  increment(family: number, k: Uint32Array, off: number): number {
    const h = this.hash(family, k, off);
    const g = mix(h);
    const t = this.table;
    // four counters, one in each 4-word quarter of the key's 16-word block
    const base = (h & this.blockMask) << 4;
    const w0 = base + ((g >>> 3) & 3);
    const w1 = base + 4 + ((g >>> 8) & 3);
    const w2 = base + 8 + ((g >>> 13) & 3);
    const w3 = base + 12 + ((g >>> 18) & 3);
    const s0 = (g & 7) << 2;
    const s1 = ((g >>> 5) & 7) << 2;
    const s2 = ((g >>> 10) & 7) << 2;
    const s3 = ((g >>> 15) & 7) << 2;
    const c0 = (t[w0] >>> s0) & 0xf;
    const c1 = (t[w1] >>> s1) & 0xf;
    const c2 = (t[w2] >>> s2) & 0xf;
    const c3 = (t[w3] >>> s3) & 0xf;
    let min = Math.min(c0, c1, c2, c3);
    if (min < MAX_COUNT) {
      // conservative update: only the counters at the minimum grow, which keeps collisions from
      // inflating the estimates of other keys sharing a counter
      if (c0 === min) t[w0] += 1 << s0;
      if (c1 === min) t[w1] += 1 << s1;
      if (c2 === min) t[w2] += 1 << s2;
      if (c3 === min) t[w3] += 1 << s3;
      min++;
    }
    if (++this.samples >= this.period) this.halve();
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

  private hash(family: number, k: Uint32Array, off: number): number {
    let h = this.seed ^ Math.imul(family, 0x27d4eb2d);
    for (let i = 0; i < 4; i++) {
      h = Math.imul(h ^ k[off + i], 0xcc9e2d51);
      h = (h << 15) | (h >>> 17);
      h = Math.imul(h, 0x1b873593);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
  }
}

/** A second hash from the first: picks the counters inside the block. */
function mix(h: number): number {
  const g = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  return g ^ (g >>> 16);
}
