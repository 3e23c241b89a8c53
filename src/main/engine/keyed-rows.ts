import { randomBytes } from 'node:crypto';
import { FAMILY_INVALID, formatIp, parseCidr, parseIpInto } from '../../shared/ip/parse.js';

/**
 * Parses a target (address or CIDR) into `out` (16 bytes, host bits cleared), without
 * allocating for a bare address (the restore's case); null when it does not parse.
 */
export function parseTargetInto(
  target: string,
  out: Uint8Array,
): { family: 4 | 6; prefixLen: number } | null {
  out.fill(0);
  if (target.indexOf('/') < 0) {
    const fam = parseIpInto(target, out);
    if (fam === FAMILY_INVALID) return null;
    if (fam === 4) out.fill(0, 4);
    return fam === 4 ? V4_FULL : V6_FULL;
  }
  try {
    const c = parseCidr(target);
    out.fill(0);
    out.set(c.bytes);
    return { family: c.family, prefixLen: c.prefixLen };
  } catch {
    return null;
  }
}

const V4_FULL = { family: 4, prefixLen: 32 } as const;
const V6_FULL = { family: 6, prefixLen: 128 } as const;

type Column = Float64Array<ArrayBuffer> | Uint32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

const FIRST_CAPACITY = 64;
/**
 * Index entries hold row + 1 in their low 24 bits and 7 bits of the key's hash above them, so a
 * probe rules out another key's entry without reading that row's columns (a restore's lookups
 * are mostly misses, each probe otherwise a cache miss per column). Past 2^23 rows the whole
 * word is the row and every probe compares the key.
 */
const TAGGED_ROWS = 0xffffff;
const UNTAGGED_ROWS = 0x7fffffff;
const TAGGED_INDEX_MAX = 1 << 24;
/** Tombstones are squeezed out once they are this many and at least as many as the live rows. */
const COMPACT_MIN_DEAD = 1024;

/** Where a walk over the rows stands; compaction moves it with the rows. */
export interface RowCursor {
  row: number;
}

/**
 * Rows keyed by a packed address (four big-endian 32-bit words, prefix length, family) in typed
 * columns: no JS object or string per row. Rows are appended in insertion order; a removed row
 * is a tombstone until compaction squeezes the tombstones out (order kept). Updating a key in
 * place keeps its position, removing and adding it again puts it last, as a Map would. Lookups
 * go through an open-addressing index (linear probing, seeded hash, backward-shift deletion).
 * Subclasses declare their columns with `column` and read and write them by row.
 */
export class KeyedRows {
  /** Largest index that carries tags (tests lower it to run the untagged layout on few rows). */
  static taggedIndexMax = TAGGED_INDEX_MAX;
  private cap = FIRST_CAPACITY;
  /** Rows used so far (live and tombstones). */
  private high = 0;
  private live = 0;
  private readonly columns: { get: () => Column; set: (c: Column) => void; stride: number }[] = [];
  /** First key word (the whole IPv4 address). */
  private key0 = new Uint32Array(FIRST_CAPACITY);
  /** Key words 1–3, made when the first IPv6 row comes: IPv4-only rows take 4 bytes of key. */
  private rest: Uint32Array<ArrayBuffer> | null = null;
  /** Prefix length. */
  private plen = new Uint8Array(FIRST_CAPACITY);
  /** 0 = tombstone, else the family. */
  private fam = new Uint8Array(FIRST_CAPACITY);
  /** Row + 1 (its low `rowMask` bits) and a tag of the key's hash (the bits above), 0 = empty. */
  private index = new Int32Array(0);
  private mask = 0;
  private rowMask = TAGGED_ROWS;
  /** The entry's tag bits (0 once the index is too large to carry one). */
  private tagMask = 0;
  /** The tag of the key the last miss was for. */
  private missTag = 0;
  private readonly seed = randomBytes(4).readUInt32LE(0);
  /** Bumped by every change to the index: a miss's empty slot is only good while it holds. */
  private gen = 0;
  /** Where the last `find` that missed stopped, for the generation `missGen` (-1: none). */
  private missSlot = -1;
  private missGen = -1;
  /** The key that last miss was for: words, prefix length, family. */
  private readonly missKw = new Uint32Array(6);
  private readonly kw = new Uint32Array(4);
  private readonly cursors = new Set<RowCursor>();
  /** Bytes of the key last written by `keyBytes` (16; the first 4 for IPv4). */
  readonly bytes = new Uint8Array(16);
  private readonly parsed = new Uint8Array(16);

  constructor() {
    this.newIndex(FIRST_CAPACITY * 2);
    this.columns.push(
      { get: () => this.key0, set: (c) => (this.key0 = c as Uint32Array<ArrayBuffer>), stride: 1 },
      { get: () => this.plen, set: (c) => (this.plen = c as Uint8Array<ArrayBuffer>), stride: 1 },
      { get: () => this.fam, set: (c) => (this.fam = c as Uint8Array<ArrayBuffer>), stride: 1 },
    );
  }

  /** A typed column of the subclass, grown and compacted with the rows. */
  protected column<T extends Column>(make: (n: number) => T, get: () => T, set: (c: T) => void): T {
    const c = make(this.cap);
    this.columns.push({ get, set: set as (c: Column) => void, stride: 1 });
    return c;
  }

  get size(): number {
    return this.live;
  }

  /** Row of the key, or -1. `bytes` holds 4 (IPv4) or 16 bytes, host bits already cleared. */
  find(bytes: Uint8Array, family: 4 | 6, prefixLen: number): number {
    this.words(bytes, family);
    const kw = this.kw;
    const key0 = this.key0;
    const rest = this.rest;
    const h = this.hash(prefixLen);
    const tag = h & this.tagMask;
    const rowMask = this.rowMask;
    const tagMask = this.tagMask;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.index[i];
      if (e === 0) {
        this.missSlot = i;
        this.missTag = tag;
        this.missGen = this.gen;
        this.missKw.set(kw);
        this.missKw[4] = prefixLen;
        this.missKw[5] = family;
        return -1;
      }
      if ((e & tagMask) !== tag) continue;
      const r = (e & rowMask) - 1;
      if (key0[r] !== kw[0] || this.plen[r] !== prefixLen || this.fam[r] !== family) continue;
      if (family === 4) return r;
      const o = r * 3;
      if (rest !== null && rest[o] === kw[1] && rest[o + 1] === kw[2] && rest[o + 2] === kw[3]) return r;
    }
  }

  /** Row of a target in canonical text (`1.2.3.4`, `2001:db8::/64`), or -1 (also when it does not parse). */
  findText(target: string): number {
    const t = this.parseTarget(target);
    return t === null ? -1 : this.find(this.parsed, t.family, t.prefixLen);
  }

  /** The key's row, appended when new; `added` says which. */
  protected upsert(bytes: Uint8Array, family: 4 | 6, prefixLen: number): { row: number; added: boolean } {
    const found = this.find(bytes, family, prefixLen);
    if (found >= 0) return { row: found, added: false };
    return { row: this.appendNew(bytes, family, prefixLen), added: true };
  }

  /**
   * Appends a key that is not held (a `find` of it just missed, or the caller knows), in the
   * index slot where that find stopped when it was for this key and nothing changed the index
   * since: one probe per new key instead of two.
   */
  protected appendNew(bytes: Uint8Array, family: 4 | 6, prefixLen: number): number {
    this.words(bytes, family);
    const kw = this.kw;
    const m = this.missKw;
    const slot =
      this.missGen === this.gen &&
      m[0] === kw[0] &&
      m[1] === kw[1] &&
      m[2] === kw[2] &&
      m[3] === kw[3] &&
      m[4] === prefixLen &&
      m[5] === family
        ? this.missSlot
        : -1;
    if (this.high === this.cap) this.makeRoom();
    const r = this.high++;
    this.live++;
    this.key0[r] = this.kw[0];
    if (family === 6) {
      const rest = this.rest ?? this.makeRest();
      rest[r * 3] = this.kw[1];
      rest[r * 3 + 1] = this.kw[2];
      rest[r * 3 + 2] = this.kw[3];
    }
    this.plen[r] = prefixLen;
    this.fam[r] = family;
    // makeRoom changes the generation: the slot is then looked for again
    if (slot >= 0 && this.missGen === this.gen) {
      this.index[slot] = (r + 1) | this.missTag;
      this.gen++;
    } else this.place(r);
    return r;
  }

  /**
   * Bulk load: a row for a key without looking it up, unindexed until `indexFrom` (nothing may
   * find, add or remove rows in between). For a snapshot of rows like these, whose keys are
   * distinct: one probe per row instead of a lookup and then a probe.
   */
  protected appendUnindexed(
    family: 4 | 6,
    prefixLen: number,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
  ): number {
    if (this.high === this.cap) this.grow(this.cap * 2, false);
    const r = this.high++;
    this.live++;
    this.key0[r] = w0;
    if (family === 6) {
      const rest = this.rest ?? this.makeRest();
      rest[r * 3] = w1;
      rest[r * 3 + 1] = w2;
      rest[r * 3 + 2] = w3;
    }
    this.plen[r] = prefixLen;
    this.fam[r] = family;
    return r;
  }

  /**
   * Indexes the rows appended since row `from` (appendUnindexed). A key met twice keeps its
   * first row; the later one becomes a tombstone once `drop` has released its columns. Returns
   * how many were dropped.
   */
  protected indexFrom(from: number, drop: (row: number) => void): number {
    let n = 1;
    while (n < this.cap * 2) n <<= 1;
    if (this.index.length !== n) {
      // grown on the way: the rows before `from` are indexed again first
      this.newIndex(n);
      for (let r = 0; r < from; r++) if (this.fam[r] !== 0) this.place(r);
    }
    let dropped = 0;
    this.gen++;
    const rowMask = this.rowMask;
    const tagMask = this.tagMask;
    for (let r = from; r < this.high; r++) {
      if (this.fam[r] === 0) continue;
      const h = this.hash(this.plen[r], r);
      const tag = h & tagMask;
      let i = h & this.mask;
      let dup = false;
      for (let e = this.index[i]; e !== 0; e = this.index[i]) {
        if ((e & tagMask) === tag && this.sameKey((e & rowMask) - 1, r)) {
          dup = true;
          break;
        }
        i = (i + 1) & this.mask;
      }
      if (!dup) {
        this.index[i] = (r + 1) | tag;
        continue;
      }
      drop(r);
      this.fam[r] = 0;
      this.live--;
      dropped++;
    }
    return dropped;
  }

  private sameKey(a: number, b: number): boolean {
    if (this.key0[a] !== this.key0[b] || this.plen[a] !== this.plen[b] || this.fam[a] !== this.fam[b])
      return false;
    if (this.fam[a] === 4 || this.rest === null) return true;
    const rest = this.rest;
    return (
      rest[a * 3] === rest[b * 3] &&
      rest[a * 3 + 1] === rest[b * 3 + 1] &&
      rest[a * 3 + 2] === rest[b * 3 + 2]
    );
  }

  /** Drops a live row (its columns are left for the subclass to release first). */
  protected removeRow(r: number): void {
    if (this.fam[r] === 0) return;
    this.gen++;
    const rowMask = this.rowMask;
    let i = this.hash(this.plen[r], r) & this.mask;
    while ((this.index[i] & rowMask) !== r + 1) i = (i + 1) & this.mask;
    // backward-shift deletion: later entries of the probe run move up into the hole
    let hole = i;
    for (let j = (i + 1) & this.mask; this.index[j] !== 0; j = (j + 1) & this.mask) {
      const o = (this.index[j] & rowMask) - 1;
      const home = this.hash(this.plen[o], o) & this.mask;
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.index[hole] = this.index[j];
        hole = j;
      }
    }
    this.index[hole] = 0;
    this.fam[r] = 0;
    this.live--;
  }

  isLive(r: number): boolean {
    return r >= 0 && r < this.high && this.fam[r] !== 0;
  }

  /** First row index past the last used one (a walk goes from 0 up to this). */
  get end(): number {
    return this.high;
  }

  familyOf(r: number): 4 | 6 {
    return this.fam[r] as 4 | 6;
  }

  prefixOf(r: number): number {
    return this.plen[r];
  }

  /** The row's key bytes into `this.bytes`. */
  keyBytes(r: number): Uint8Array {
    const b = this.bytes;
    const v6 = this.fam[r] === 6 && this.rest !== null;
    for (let w = 0; w < 4; w++) {
      const v = w === 0 ? this.key0[r] : v6 ? (this.rest as Uint32Array)[r * 3 + w - 1] : 0;
      b[w * 4] = v >>> 24;
      b[w * 4 + 1] = (v >>> 16) & 255;
      b[w * 4 + 2] = (v >>> 8) & 255;
      b[w * 4 + 3] = v & 255;
    }
    return b;
  }

  /** Canonical text of the row's key: the bare address at full length, else `addr/len`. */
  targetText(r: number): string {
    const fam = this.fam[r] as 4 | 6;
    const text = formatIp(this.keyBytes(r), fam);
    return this.plen[r] === (fam === 4 ? 32 : 128) ? text : `${text}/${this.plen[r]}`;
  }

  /** A walk that compaction keeps in step with the rows; `closeCursor` when done. */
  openCursor(): RowCursor {
    const c = { row: 0 };
    this.cursors.add(c);
    return c;
  }

  closeCursor(c: RowCursor): void {
    this.cursors.delete(c);
  }

  /** Squeezes tombstones out when they are many (call between walks' steps, not inside one). */
  maybeCompact(): void {
    const dead = this.high - this.live;
    if (dead >= COMPACT_MIN_DEAD && dead >= this.live) this.compact();
  }

  /** Parses a target into `this.parsed` (see parseTargetInto). */
  protected parseTarget(target: string): { family: 4 | 6; prefixLen: number } | null {
    return parseTargetInto(target, this.parsed);
  }

  /** The bytes `parseTarget` wrote. */
  protected get parsedBytes(): Uint8Array {
    return this.parsed;
  }

  private words(b: Uint8Array, family: 4 | 6): void {
    const kw = this.kw;
    kw[0] = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    if (family === 4) {
      kw[1] = 0;
      kw[2] = 0;
      kw[3] = 0;
      return;
    }
    for (let w = 1; w < 4; w++) {
      const o = w * 4;
      kw[w] = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    }
  }

  /** Hash of the words in `kw` (or of row `r`'s key when given). */
  private hash(prefixLen: number, r = -1): number {
    let h = this.seed ^ Math.imul(prefixLen + 1, 0x9e3779b1);
    for (let w = 0; w < 4; w++) {
      const v = r < 0 ? this.kw[w] : this.word(r, w);
      h = Math.imul(h ^ v, 0x85ebca6b);
      h ^= h >>> 13;
    }
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Word `w` (0–3, big-endian) of row `r`'s key; 0 past an IPv4 key's first. */
  keyWord(r: number, w: number): number {
    return this.word(r, w);
  }

  private word(r: number, w: number): number {
    if (w === 0) return this.key0[r];
    return this.fam[r] === 6 && this.rest !== null ? this.rest[r * 3 + w - 1] : 0;
  }

  private makeRest(): Uint32Array<ArrayBuffer> {
    const rest = new Uint32Array(this.cap * 3);
    this.rest = rest;
    this.columns.push({
      get: () => this.rest as Uint32Array<ArrayBuffer>,
      set: (c) => (this.rest = c as Uint32Array<ArrayBuffer>),
      stride: 3,
    });
    return rest;
  }

  private place(r: number): void {
    this.gen++;
    const h = this.hash(this.plen[r], r);
    let i = h & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = (r + 1) | (h & this.tagMask);
  }

  /** An empty index of `n` slots; tagged while its rows fit beside a tag. */
  private newIndex(n: number): void {
    this.index = new Int32Array(n);
    this.mask = n - 1;
    this.rowMask = n <= KeyedRows.taggedIndexMax ? TAGGED_ROWS : UNTAGGED_ROWS;
    this.tagMask = UNTAGGED_ROWS & ~this.rowMask;
  }

  /** Room for `n` more rows without growing on the way (a bulk load sizes once, indexes once). */
  reserve(n: number): void {
    let cap = this.cap;
    while (cap < this.high + n) cap *= 2;
    if (cap !== this.cap) this.grow(cap);
  }

  /** Out of rows: squeeze tombstones out when a quarter or more are dead, else double. */
  private makeRoom(): void {
    if (this.high - this.live >= this.cap / 4) {
      this.compact();
      return;
    }
    this.grow(this.cap * 2);
  }

  /** Columns `cap` rows long; indexed again unless a bulk load indexes at its end. */
  private grow(cap: number, reindex = true): void {
    for (const c of this.columns) {
      const old = c.get();
      const next = new (old.constructor as new (n: number) => Column)(cap * c.stride);
      next.set(old);
      c.set(next);
    }
    this.cap = cap;
    if (reindex) this.reindex();
  }

  private compact(): void {
    let to = 0;
    const moved = new Map<RowCursor, number>();
    for (const c of this.cursors) moved.set(c, -1);
    for (let from = 0; from < this.high; from++) {
      for (const [c, at] of moved) if (at < 0 && c.row <= from) moved.set(c, to);
      if (this.fam[from] === 0) continue;
      if (from !== to)
        for (const c of this.columns) {
          const a = c.get();
          a.copyWithin(to * c.stride, from * c.stride, (from + 1) * c.stride);
        }
      to++;
    }
    for (const [c, at] of moved) c.row = at < 0 ? to : at;
    for (const c of this.columns) c.get().fill(0, to * c.stride, this.high * c.stride);
    this.high = to;
    this.reindex();
  }

  private reindex(): void {
    this.gen++;
    let n = 1;
    while (n < this.cap * 2) n <<= 1;
    if (this.index.length === n) this.index.fill(0);
    else this.newIndex(n);
    for (let r = 0; r < this.high; r++) if (this.fam[r] !== 0) this.place(r);
  }
}
