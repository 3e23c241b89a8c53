import { randomBytes } from 'node:crypto';
import { FrequencySketch } from './sketch.js';

/** Most failure times kept per address; `max_attempts` above it is counted with an overflow counter. */
export const RING_CAP = 64;

/**
 * Longest counting window honoured exactly (2^29 ms, about 6.2 days): times are kept as unsigned
 * 32-bit milliseconds that wrap, and a difference is exact while it stays under 2^31 ms.
 */
export const MAX_WINDOW_MS = 2 ** 29;

const ERA_SHIFT = 2 ** 29;
const NONE = -1;
/** Oldest slots a newcomer is weighed against before it is turned away. */
const VICTIM_TRIES = 3;

/** Unsigned 32-bit milliseconds (wraps every ~49.7 days). */
function wrap(t: number): number {
  return t >>> 0;
}

/** Signed age of a wrapped time: exact while the true age is within ±2^31 ms. */
function age(nowW: number, w: number): number {
  return (nowW - w) | 0;
}

/**
 * Failure counting for every tracked address, in typed arrays: a slot pool with a seeded hash
 * index (chained through an Int32Array), per slot a short list of failure times (insertion order,
 * at most min(max_attempts, RING_CAP)), and an intrusive least-recently-seen list for O(1) touch
 * and eviction. No JS object or string per address. Memory is reserved for `capacity` slots up
 * front; the pages are committed as slots are first used.
 *
 * Times older than the window are dropped when the slot is next touched, and by `sweepSome`,
 * which walks a bounded number of slots per call from a cursor.
 *
 * Admission when full (TinyLFU): every failure of an untracked address is counted in a frequency
 * sketch that outlives the slots (a tracked one's failures are counted exactly in its slot). The
 * least recently seen slot gives way to a newcomer unless it failed more often than the newcomer
 * (and more than once), counting the sketch's estimate when it got the slot plus the failures
 * its slot counted since: then it gets another lap and the next oldest is weighed, up to
 * VICTIM_TRIES, after which the newcomer's failure is not tracked.
 * A flood of one-shot addresses thus churns only among itself, and an address that keeps failing,
 * however slowly, keeps (or wins back) its slot.
 */
export class FailureTrackers {
  readonly capacity: number;
  private stride: number;
  private maxAttempts: number;
  private window: number;
  private ring: Uint32Array;
  private readonly count: Uint8Array;
  /** 0 = free slot, else the family (4 or 6). */
  private readonly fam: Uint8Array;
  /** Era (t / 2^29 ms, low 8 bits) of the last touch: a slot two eras old holds only stale times. */
  private readonly era: Uint8Array;
  /** The sketch's count of the address when it got its slot (its weight beside its own count). */
  private readonly seen: Uint8Array;
  /** Words 0-1 of each key: all of an IPv4 address, the /64 of an IPv6 one. */
  private readonly key: Uint32Array;
  /** Words 2-3, only once an IPv6 key longer than /64 is tracked (zero for the others). */
  private keyLow: Uint32Array | null = null;
  private readonly prev: Int32Array;
  /** LRU successor for a used slot, free-list link for a free one. */
  private readonly next: Int32Array;
  /** Hash chain: next slot + 1, 0 = end. */
  private readonly chain: Int32Array;
  /** Bucket heads: slot + 1, 0 = empty. */
  private readonly buckets: Int32Array;
  private readonly mask: number;
  private readonly seed: number;
  /** Failures in the window pushed out of a full ring (max_attempts > RING_CAP only). */
  private overflow: Uint32Array | null = null;
  /** Oldest time counted in `overflow`: once it leaves the window the overflow is dropped. */
  private overflowOldest: Uint32Array | null = null;
  private head = NONE;
  private tail = NONE;
  private free = NONE;
  private high = 0;
  private cursor = 0;
  private readonly kw = new Uint32Array(4);
  /** A stored slot's key, rebuilt (hash on release, sketch weight of a victim). */
  private readonly sk = new Uint32Array(4);
  private readonly sketch: FrequencySketch;
  size = 0;
  /** Failures dropped for want of room: a tracked address evicted, or a newcomer turned away. */
  evictions = 0;
  /** Newcomers turned away by the admission (counted in `evictions` too). */
  rejected = 0;

  /** `seed` fixes the hashes (tests that must replay one layout); a random one by default. */
  constructor(capacity: number, maxAttempts: number, windowMs: number, seed?: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.maxAttempts = Math.max(1, maxAttempts);
    this.window = Math.min(windowMs, MAX_WINDOW_MS);
    this.stride = Math.min(this.maxAttempts, RING_CAP);
    const n = this.capacity;
    this.ring = new Uint32Array(n * this.stride);
    this.count = new Uint8Array(n);
    this.fam = new Uint8Array(n);
    this.era = new Uint8Array(n);
    this.seen = new Uint8Array(n);
    this.key = new Uint32Array(n * 2);
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    this.chain = new Int32Array(n);
    let b = 1;
    while (b < n) b <<= 1;
    this.buckets = new Int32Array(b);
    this.mask = b - 1;
    // seeded so that nobody outside can aim addresses at one bucket
    this.seed = seed ?? randomBytes(4).readUInt32LE(0);
    this.sketch = new FrequencySketch(
      this.capacity,
      seed === undefined ? undefined : Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) >>> 0,
    );
    if (this.maxAttempts > this.stride) this.allocOverflow();
  }

  /**
   * New counting policy. Times already counted stay; when the ring shrinks each address keeps its
   * newest ones (so a lower max_attempts bans on the next failure of anyone above it).
   */
  setPolicy(maxAttempts: number, windowMs: number): void {
    this.window = Math.min(windowMs, MAX_WINDOW_MS);
    this.maxAttempts = Math.max(1, maxAttempts);
    const stride = Math.min(this.maxAttempts, RING_CAP);
    if (this.maxAttempts > stride && !this.overflow) this.allocOverflow();
    if (stride === this.stride) return;
    const ring = new Uint32Array(this.capacity * stride);
    for (let s = 0; s < this.high; s++) {
      if (this.fam[s] === 0) continue;
      const n = this.count[s];
      const keep = Math.min(n, stride);
      const from = s * this.stride + n - keep;
      ring.set(this.ring.subarray(from, from + keep), s * stride);
      this.count[s] = keep;
    }
    this.ring = ring;
    this.stride = stride;
  }

  /**
   * One failure of the address in `bytes` (4 bytes for IPv4, 16 already masked for IPv6) at
   * `timeMs`. Returns the failures now counted in the window, this one included.
   */
  record(bytes: Uint8Array, family: 4 | 6, timeMs: number): number {
    this.keyWords(bytes, family);
    let s = this.find(family);
    if (s === NONE) {
      s = this.insert(family, this.sketch.increment(family, this.kw, 0));
      if (s === NONE) return 1; // not tracked: this failure alone
    } else this.touch(s);
    const nowW = wrap(timeMs);
    const era = Math.floor(timeMs / ERA_SHIFT) & 0xff;
    const w = this.window;
    const stride = this.stride;
    const base = s * stride;
    const ring = this.ring;
    let n = this.isStale(s, era) ? 0 : this.count[s];
    let ov = 0;
    if (this.overflow && this.overflowOldest) {
      ov = n === 0 ? 0 : this.overflow[s];
      if (ov > 0 && age(nowW, this.overflowOldest[s]) >= w) ov = 0;
    }
    let j = 0;
    for (let i = 0; i < n; i++) {
      const v = ring[base + i];
      if (age(nowW, v) < w) ring[base + j++] = v;
    }
    n = j;
    if (n === stride) {
      if (this.overflow && this.overflowOldest) {
        if (ov === 0) this.overflowOldest[s] = ring[base];
        ov++;
      }
      ring.copyWithin(base, base + 1, base + n);
      n--;
    }
    ring[base + n++] = nowW;
    this.count[s] = n;
    this.era[s] = era;
    if (this.overflow) this.overflow[s] = ov;
    return n + ov;
  }

  /** Failures of this address inside the window ending at `nowMs` (0 when untracked). */
  failures(bytes: Uint8Array, family: 4 | 6, nowMs: number): number {
    this.keyWords(bytes, family);
    const s = this.find(family);
    if (s === NONE) return 0;
    const nowW = wrap(nowMs);
    if (this.isStale(s, Math.floor(nowMs / ERA_SHIFT) & 0xff)) return 0;
    const w = this.window;
    const base = s * this.stride;
    let c = 0;
    for (let i = 0; i < this.count[s]; i++) if (age(nowW, this.ring[base + i]) < w) c++;
    if (this.overflow && this.overflowOldest && this.overflow[s] > 0)
      if (age(nowW, this.overflowOldest[s]) < w) c += this.overflow[s];
    return c;
  }

  /**
   * Every tracked address with its failure times still inside the window at `nowMs` (unix ms,
   * oldest first): what a restart hands back through `record`. `key` is reused between calls.
   */
  forEachCounted(nowMs: number, cb: (key: Uint8Array, family: 4 | 6, times: number[]) => void): void {
    const nowW = wrap(nowMs);
    const era = Math.floor(nowMs / ERA_SHIFT) & 0xff;
    const key = new Uint8Array(16);
    for (let s = 0; s < this.high; s++) {
      const fam = this.fam[s];
      if (fam === 0 || this.isStale(s, era)) continue;
      const base = s * this.stride;
      const times: number[] = [];
      for (let i = 0; i < this.count[s]; i++) {
        const a = age(nowW, this.ring[base + i]);
        if (a >= 0 && a < this.window) times.push(nowMs - a);
      }
      if (times.length === 0) continue;
      const k = this.storedKey(s);
      for (let w = 0; w < 4; w++) {
        key[w * 4] = k[w] >>> 24;
        key[w * 4 + 1] = (k[w] >>> 16) & 255;
        key[w * 4 + 2] = (k[w] >>> 8) & 255;
        key[w * 4 + 3] = k[w] & 255;
      }
      cb(key, fam as 4 | 6, times);
    }
  }

  /** Forget this address (after a ban, an unban). */
  remove(bytes: Uint8Array, family: 4 | 6): boolean {
    this.keyWords(bytes, family);
    const s = this.find(family);
    if (s === NONE) return false;
    this.release(s);
    return true;
  }

  /**
   * Drop addresses whose last failure is outside the window ending at `nowMs`, looking at no more
   * than `budget` slots from where the previous call stopped. Returns true when a full pass over
   * the table has ended (the cursor is back at the start).
   */
  sweepSome(nowMs: number, budget: number): boolean {
    const nowW = wrap(nowMs);
    const era = Math.floor(nowMs / ERA_SHIFT) & 0xff;
    const w = this.window;
    let left = budget;
    while (left-- > 0 && this.cursor < this.high) {
      const s = this.cursor++;
      if (this.fam[s] === 0) continue;
      const n = this.count[s];
      if (n === 0 || this.isStale(s, era) || age(nowW, this.ring[s * this.stride + n - 1]) >= w)
        this.release(s);
    }
    if (this.cursor < this.high) return false;
    this.cursor = 0;
    return true;
  }

  /** The next `sweepSome` starts a pass from the first slot. */
  restartSweep(): void {
    this.cursor = 0;
  }

  /** Back to empty (every address forgotten). */
  clear(): void {
    this.fam.fill(0, 0, this.high);
    this.buckets.fill(0);
    this.head = this.tail = this.free = NONE;
    this.high = this.size = this.cursor = 0;
    this.sketch.clear();
  }

  // --- internals ---------------------------------------------------------------------------

  private allocOverflow(): void {
    this.overflow = new Uint32Array(this.capacity);
    this.overflowOldest = new Uint32Array(this.capacity);
  }

  private isStale(s: number, era: number): boolean {
    const d = (era - this.era[s]) & 0xff;
    return d > 1 && d < 255;
  }

  private keyWords(b: Uint8Array, family: 4 | 6): void {
    const k = this.kw;
    if (family === 4) {
      k[0] = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
      k[1] = k[2] = k[3] = 0;
      return;
    }
    for (let i = 0; i < 4; i++) {
      const o = i * 4;
      k[i] = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    }
  }

  private bucketOf(family: number, k: Uint32Array = this.kw): number {
    let h = this.seed ^ family;
    for (let i = 0; i < 4; i++) {
      h = Math.imul(h ^ k[i], 0x9e3779b1);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
    h ^= h >>> 16;
    return h & this.mask;
  }

  private find(family: number): number {
    const k = this.kw;
    let s = this.buckets[this.bucketOf(family)] - 1;
    while (s !== NONE) {
      const o = s * 2;
      if (this.fam[s] === family && this.key[o] === k[0] && this.key[o + 1] === k[1]) {
        const low = this.keyLow;
        if (low === null ? (k[2] | k[3]) === 0 : low[o] === k[2] && low[o + 1] === k[3]) return s;
      }
      s = this.chain[s] - 1;
    }
    return NONE;
  }

  /**
   * A slot for the key in `kw` (seen `seen` times by the sketch): a free one, a fresh one, or an
   * old one that loses the comparison; NONE when the newcomer is turned away.
   */
  private insert(family: number, seen: number): number {
    let s: number;
    if (this.free !== NONE) {
      s = this.free;
      this.free = this.next[s];
    } else if (this.high < this.capacity) {
      s = this.high++;
    } else {
      this.evictions++;
      s = this.victim(seen);
      if (s === NONE) {
        this.rejected++;
        return NONE;
      }
      this.release(s);
      this.free = this.next[s];
    }
    const o = s * 2;
    const k = this.kw;
    this.key[o] = k[0];
    this.key[o + 1] = k[1];
    if ((k[2] | k[3]) !== 0 && this.keyLow === null) this.keyLow = new Uint32Array(this.capacity * 2);
    if (this.keyLow !== null) {
      this.keyLow[o] = k[2];
      this.keyLow[o + 1] = k[3];
    }
    this.fam[s] = family;
    this.count[s] = 0;
    this.seen[s] = seen;
    if (this.overflow) this.overflow[s] = 0;
    const b = this.bucketOf(family);
    this.chain[s] = this.buckets[b];
    this.buckets[b] = s + 1;
    this.prev[s] = NONE;
    this.next[s] = this.head;
    if (this.head !== NONE) this.prev[this.head] = s;
    this.head = s;
    if (this.tail === NONE) this.tail = s;
    this.size++;
    return s;
  }

  /** The least recently seen slot that a newcomer seen `seen` times may take, or NONE. */
  private victim(seen: number): number {
    for (let i = 0; i < VICTIM_TRIES; i++) {
      const v = this.tail;
      // the sketch counted its failures until it got the slot (this one included), the slot
      // counts them since: their sum is how often it was seen, so a slot's weight keeps growing
      // with every lap it survives instead of stalling where the sketch left it
      const weight = this.seen[v] + this.count[v] - 1;
      if (weight <= 1 || seen > weight) return v;
      // it failed repeatedly: another lap, and the next oldest is weighed
      this.touch(v);
    }
    return NONE;
  }

  /** The four key words of slot `s`, in `sk`. */
  private storedKey(s: number): Uint32Array {
    const k = this.sk;
    const o = s * 2;
    k[0] = this.key[o];
    k[1] = this.key[o + 1];
    const low = this.keyLow;
    k[2] = low === null ? 0 : low[o];
    k[3] = low === null ? 0 : low[o + 1];
    return k;
  }

  /** Move a slot to the most-recently-seen end. */
  private touch(s: number): void {
    if (this.head === s) return;
    this.unlinkLru(s);
    this.prev[s] = NONE;
    this.next[s] = this.head;
    if (this.head !== NONE) this.prev[this.head] = s;
    this.head = s;
    if (this.tail === NONE) this.tail = s;
  }

  private unlinkLru(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p !== NONE) this.next[p] = n;
    else this.head = n;
    if (n !== NONE) this.prev[n] = p;
    else this.tail = p;
  }

  private release(s: number): void {
    const b = this.bucketOf(this.fam[s], this.storedKey(s));
    let cur = this.buckets[b] - 1;
    if (cur === s) this.buckets[b] = this.chain[s];
    else {
      while (cur !== NONE && this.chain[cur] - 1 !== s) cur = this.chain[cur] - 1;
      if (cur !== NONE) this.chain[cur] = this.chain[s];
    }
    this.unlinkLru(s);
    this.fam[s] = 0;
    this.count[s] = 0;
    this.next[s] = this.free;
    this.free = s;
    this.size--;
  }
}
