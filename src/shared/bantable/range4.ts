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

export interface Range4Entry {
  key: number;
  len: number;
  meta: number;
  exp: number;
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

/** Build the index for `entries` (IPv4 prefixes shorter than /32). */
export function buildRange4(entries: Range4Entry[]): Range4Buffers {
  const l0 = new IntList(LEVEL_SIZE[0]);
  l0.n = LEVEL_SIZE[0];
  const levels = [l0, new IntList(1024), new IntList(1024), new IntList(1024), new IntList(1024)];
  const res = new IntList(1024);
  for (let i = 0; i < 4; i++) res.push(0); // result 0 = none
  // (result, entry) → merged result, so a slot pattern repeated across blocks is stored once
  const memo = new Map<number, number>();
  const sorted = [...entries].sort((x, y) => x.len - y.len);
  const merge = (rid: number, ei: number): number => {
    const mk = rid * 1_048_576 + ei;
    const known = memo.get(mk);
    if (known !== undefined) return known;
    const e = sorted[ei];
    const r = res.a;
    let w = r[rid * 4];
    let b = r[rid * 4 + 1];
    let t = r[rid * 4 + 2];
    let te = r[rid * 4 + 3];
    // entries come shortest first: a later (longer) one is the more specific answer
    if ((e.meta & F_WHITE) !== 0) w = e.meta;
    if ((e.meta & F_BLACK) !== 0) b = e.meta;
    if ((e.meta & F_TEMP) !== 0 && (t === 0 || e.exp >>> 0 >= te >>> 0)) {
      t = e.meta;
      te = e.exp;
    }
    const id = res.n / 4;
    res.push(w);
    res.push(b);
    res.push(t);
    res.push(te);
    memo.set(mk, id);
    return id;
  };
  for (let ei = 0; ei < sorted.length; ei++) {
    const e = sorted[ei];
    let level = 0;
    while (LEVEL_END[level] < e.len) level++;
    // walk down to the level, splitting leaves into blocks on the way
    let block = 0;
    for (let l = 0; l < level; l++) {
      const arr = levels[l];
      const at = block * LEVEL_SIZE[l] + indexAt(e.key, l);
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
    const start = block * LEVEL_SIZE[level] + indexAt(e.key, level);
    const count = 2 ** (LEVEL_END[level] - e.len);
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
