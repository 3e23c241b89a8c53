/**
 * IPv4 range index: a multibit trie with strides 16-4-4-4-4, rebuilt (copy-on-write) from the
 * range entries whenever they change. A lookup is at most five dependent array reads and finds,
 * for the address, the combined answer of every range that covers it, precomputed per slot:
 * the most specific whitelist and blacklist entries and the temporary ban that ends last.
 *
 * Slot values: 0 = no range, n > 0 = result n, n < 0 = block −n−1 of the next level.
 * Results: 4 × i32 each, [whiteMeta, blackMeta, tempMeta, tempExpiresAt]; meta as in layout.ts.
 */
import { F_BLACK, F_TEMP, F_WHITE, metaLen } from './layout.js';

// 16-entry blocks below the root: a sparse /25../31 range costs a 64-byte block per level,
// not a 1 KiB one (an 8-bit last stride made ranges ~300 B each at 100k random ranges)
export const LEVEL_SIZE = [65536, 16, 16, 16, 16];
const LEVEL_END = [16, 20, 24, 28, 32];

export interface Range4Buffers {
  l0: SharedArrayBuffer;
  l1: SharedArrayBuffer;
  l2: SharedArrayBuffer;
  l3: SharedArrayBuffer;
  l4: SharedArrayBuffer;
  res: SharedArrayBuffer;
}

/**
 * The IPv4 range entries, as columns (one index per entry): building from typed arrays leaves no
 * per-entry objects on the JS heap, which would stay resident after a large rebuild.
 */
export interface Range4Entries {
  n: number;
  key: Int32Array;
  len: Uint8Array;
  meta: Int32Array;
  exp: Int32Array;
}

export function emptyRange4Entries(): Range4Entries {
  return {
    n: 0,
    key: new Int32Array(0),
    len: new Uint8Array(0),
    meta: new Int32Array(0),
    exp: new Int32Array(0),
  };
}

/** Index of `key` at `level`. */
function indexAt(key: number, level: number): number {
  switch (level) {
    case 0:
      return key >>> 16;
    case 1:
      return (key >>> 12) & 15;
    case 2:
      return (key >>> 8) & 15;
    case 3:
      return (key >>> 4) & 15;
    default:
      return key & 15;
  }
}

/** An Int32Array that grows by doubling (typed, so a build leaves no JS-heap garbage behind). */
class IntList {
  a: Int32Array;
  n = 0;
  constructor(initial: number) {
    this.a = new Int32Array(Math.max(16, initial));
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const next = new Int32Array(this.a.length * 2);
      next.set(this.a);
      this.a = next;
    }
    this.a[this.n++] = v;
  }
  toSab(): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(Math.max(4, this.n * 4));
    new Int32Array(sab).set(this.a.subarray(0, this.n));
    return sab;
  }
}

/**
 * (result id, entry) → merged result id, so a slot pattern repeated across blocks is stored
 * once: open addressing over typed arrays (a Map of 100k+ numbers would grow the JS heap).
 */
class MergeMemo {
  private rid: Int32Array;
  private ei: Int32Array;
  private val: Int32Array;
  private mask: number;
  private count = 0;
  constructor(expected: number) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.rid = new Int32Array(cap).fill(-1);
    this.ei = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.mask = cap - 1;
  }
  private slot(rid: number, ei: number): number {
    let h = (Math.imul(rid, 0x9e3779b1) ^ Math.imul(ei, 0x85ebca6b)) & this.mask;
    while (this.rid[h] !== -1 && (this.rid[h] !== rid || this.ei[h] !== ei)) h = (h + 1) & this.mask;
    return h;
  }
  get(rid: number, ei: number): number {
    const h = this.slot(rid, ei);
    return this.rid[h] === -1 ? -1 : this.val[h];
  }
  set(rid: number, ei: number, v: number): void {
    if ((this.count + 1) * 2 > this.rid.length) this.grow();
    const h = this.slot(rid, ei);
    if (this.rid[h] === -1) this.count++;
    this.rid[h] = rid;
    this.ei[h] = ei;
    this.val[h] = v;
  }
  private grow(): void {
    const { rid, ei, val } = this;
    const cap = rid.length * 2;
    this.rid = new Int32Array(cap).fill(-1);
    this.ei = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < rid.length; i++) if (rid[i] !== -1) this.set(rid[i], ei[i], val[i]);
  }
}

/** Build the index for `entries` (IPv4 prefixes shorter than /32). */
export function buildRange4(entries: Range4Entries): Range4Buffers {
  const l0 = new IntList(LEVEL_SIZE[0]);
  l0.n = LEVEL_SIZE[0];
  const levels = [l0, new IntList(1024), new IntList(1024), new IntList(1024), new IntList(1024)];
  const res = new IntList(4 * (entries.n + 1));
  for (let i = 0; i < 4; i++) res.push(0); // result 0 = none
  // entries shortest first (counting sort on the length): a later one is the more specific answer
  const n = entries.n;
  const byLen = new Int32Array(34);
  for (let i = 0; i < n; i++) byLen[entries.len[i] + 1]++;
  for (let l = 1; l < 34; l++) byLen[l] += byLen[l - 1];
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[byLen[entries.len[i]]++] = i;
  const memo = new MergeMemo(n);
  const merge = (rid: number, ei: number): number => {
    const known = memo.get(rid, ei);
    if (known !== -1) return known;
    const meta = entries.meta[ei];
    const r = res.a;
    let w = r[rid * 4];
    let b = r[rid * 4 + 1];
    let t = r[rid * 4 + 2];
    let te = r[rid * 4 + 3];
    if ((meta & F_WHITE) !== 0) w = meta;
    if ((meta & F_BLACK) !== 0) b = meta;
    if ((meta & F_TEMP) !== 0 && (t === 0 || entries.exp[ei] >>> 0 >= te >>> 0)) {
      t = meta;
      te = entries.exp[ei];
    }
    const id = res.n / 4;
    res.push(w);
    res.push(b);
    res.push(t);
    res.push(te);
    memo.set(rid, ei, id);
    return id;
  };
  for (let k = 0; k < n; k++) {
    const ei = order[k];
    const key = entries.key[ei];
    const len = entries.len[ei];
    let level = 0;
    while (LEVEL_END[level] < len) level++;
    // walk down to the level, splitting leaves into blocks on the way
    let block = 0;
    for (let l = 0; l < level; l++) {
      const arr = levels[l];
      const at = block * LEVEL_SIZE[l] + indexAt(key, l);
      let v = arr.a[at];
      if (v >= 0) {
        const next = levels[l + 1];
        const nb = next.n / LEVEL_SIZE[l + 1];
        for (let i = 0; i < LEVEL_SIZE[l + 1]; i++) next.push(v);
        v = -(nb + 1);
        arr.a[at] = v;
      }
      block = -v - 1;
    }
    const arr = levels[level];
    const start = block * LEVEL_SIZE[level] + indexAt(key, level);
    const count = 2 ** (LEVEL_END[level] - len);
    for (let i = start; i < start + count; i++) arr.a[i] = merge(arr.a[i], ei);
  }
  return {
    l0: levels[0].toSab(),
    l1: levels[1].toSab(),
    l2: levels[2].toSab(),
    l3: levels[3].toSab(),
    l4: levels[4].toSab(),
    res: res.toSab(),
  };
}

/** Result id for `addr` (0 = no range covers it). */
export function lookupRange4(
  l0: Int32Array,
  l1: Int32Array,
  l2: Int32Array,
  l3: Int32Array,
  l4: Int32Array,
  addr: number,
): number {
  let v = l0[addr >>> 16];
  if (v < 0) {
    v = l1[((-v - 1) << 4) | ((addr >>> 12) & 15)];
    if (v < 0) {
      v = l2[((-v - 1) << 4) | ((addr >>> 8) & 15)];
      if (v < 0) {
        v = l3[((-v - 1) << 4) | ((addr >>> 4) & 15)];
        if (v < 0) v = l4[((-v - 1) << 4) | (addr & 15)];
      }
    }
  }
  return v;
}

export { metaLen };
