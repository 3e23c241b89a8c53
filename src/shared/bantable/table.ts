import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { EdgebanError } from '../errors.js';
import { v4ToU32 } from '../ip/parse.js';
import { Kind, type KindCode, type LookupResult } from './api.js';
import {
  BITMAP_WORDS,
  C_GEN,
  C_V6MASK,
  C_WORDS,
  F_BLACK,
  F_TEMP,
  F_WHITE,
  M_HELD,
  M_LEN_SHIFT,
  M_OCC,
  M_OFF_MAX,
  M_OFF_SHIFT,
  M_REASON_SHIFT,
  M_SCOPED,
  M_TOMB,
  metaLen,
  metaReason,
  REASON_MAX,
  V4_EXP,
  V4_KEY,
  V4_META,
  V4_SEQ,
  V4_WORDS,
  V6_EXP,
  V6_META,
  V6_OFF,
  V6_SEQ,
  V6_WORDS,
} from './layout.js';
import { buildRange4, emptyRange4Entries, type Range4Entries } from './range4.js';
import {
  type BanTableHandle,
  BanTableReader,
  hash4,
  hash6,
  log2,
  mask4,
  mask6,
  nextPow2,
  readWordBE,
} from './reader.js';
import { ScopedBans } from './scoped.js';
import { ServiceNames } from './services.js';

export interface BanTableEntry {
  bytes: Uint8Array;
  family: 4 | 6;
  prefixLen: number;
  kind: KindCode;
  expiresAt: number;
  offences: number;
  reasonId: number;
}

export interface BanTableStats {
  exact: number;
  ranges: number;
  capacity: number;
  sabBytes: number;
  generation: number;
  tombstones: number;
}

const MAX_LOAD = 0.75;
const SNAPSHOT_MAGIC = 'EBT1';
const KIND_FLAG = [0, F_TEMP, F_BLACK, F_WHITE];
const FLAG_KINDS: KindCode[] = [Kind.TEMP_BAN, Kind.BLACKLIST, Kind.WHITELIST];

/**
 * The writer: the one thread (the main thread's ban engine) that changes ban state. Slot
 * changes are published under a per-slot seqlock; growth and compaction build a new generation
 * in new buffers and swap it in, so readers never wait.
 */
export class BanTable extends BanTableReader {
  private count4 = 0;
  private tomb4 = 0;
  private count6 = 0;
  private tomb6 = 0;
  /** Entries per IPv4 prefix length (read by the owning table for its service tables). */
  readonly lenCount4 = new Int32Array(33);
  private readonly lenCount6 = new Int32Array(129);
  private readonly ports: MessagePort[] = [];
  private readonly reasons: string[] = [''];
  private readonly reasonIds = new Map<string, number>();
  private readonly minCap: number;
  private r4Scheduled = false;
  private readonly markBytes = new Uint8Array(16);

  constructor(opts: { initialCapacity?: number } = {}) {
    const cap = nextPow2(Math.max(16, opts.initialCapacity ?? 1024));
    super(BanTable.allocate(new SharedArrayBuffer(C_WORDS * 4), cap, cap, 1), null, false);
    this.minCap = cap;
    Atomics.store(this.ctrl, C_GEN, 1);
  }

  private static allocate(
    control: SharedArrayBuffer,
    cap4: number,
    cap6: number,
    generation: number,
  ): BanTableHandle {
    return {
      control,
      v4: new SharedArrayBuffer(cap4 * V4_WORDS * 4),
      v6: new SharedArrayBuffer(cap6 * V6_WORDS * 4),
      bits6: new SharedArrayBuffer(128 * BITMAP_WORDS * 4),
      r4: buildRange4(emptyRange4Entries()),
      generation,
    };
  }

  /** The current generation's buffers. */
  handle(): BanTableHandle {
    return this.h;
  }

  /**
   * What a worker thread needs to attach: post `handle` and transfer `port`, then call
   * `BanTableReader.attach(handle, port)` in the worker. New generations arrive on the port.
   */
  attachReader(): { handle: BanTableHandle; port: MessagePort } {
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    this.ports.push(port1);
    return { handle: this.h, port: port2 };
  }

  /** Intern a reason text; 0 is "no reason". Past the id space, new texts share id 0. */
  reasonId(text: string): number {
    if (text === '') return 0;
    const known = this.reasonIds.get(text);
    if (known !== undefined) return known;
    if (this.reasons.length > REASON_MAX) return 0;
    const id = this.reasons.length;
    this.reasons.push(text);
    this.reasonIds.set(text, id);
    return id;
  }

  reasonText(id: number): string {
    return this.reasons[id] ?? '';
  }

  /**
   * Add `kind` to the entry for (address, prefixLen), creating it if needed. The address is
   * masked to the prefix. For TEMP_BAN, `expiresAt` (unix s) is the ban's end.
   */
  set(
    bytes: Uint8Array,
    family: 4 | 6,
    prefixLen: number,
    kind: KindCode,
    expiresAt: number,
    offences: number,
    reasonId: number,
  ): void {
    const flag = KIND_FLAG[kind];
    if (flag === undefined || flag === 0) throw new EdgebanError('E_BANTABLE', `invalid kind ${kind}`);
    if (family === 4) this.set4(bytes, prefixLen, flag, expiresAt, offences, reasonId);
    else this.set6(bytes, prefixLen, flag, expiresAt, offences, reasonId);
  }

  /**
   * Room for `n4` more IPv4 and `n6` more IPv6 entries in one rebuild, not one per doubling (a
   * restore knows how many it brings).
   */
  reserve(n4: number, n6: number): void {
    // the sizes insert4/insert6 would grow to by the time the last of them is in
    const cap4 =
      this.count4 + this.tomb4 + n4 > this.cap4 * MAX_LOAD
        ? Math.max(this.cap4, nextPow2((this.count4 + n4) * 2))
        : this.cap4;
    const cap6 =
      this.count6 + this.tomb6 + n6 > this.cap6 * MAX_LOAD
        ? Math.max(this.cap6, nextPow2((this.count6 + n6) * 2))
        : this.cap6;
    if (cap4 !== this.cap4 || cap6 !== this.cap6) this.rebuild(cap4, cap6);
  }

  /** Remove `kind` from the entry; the slot is freed when no kind is left. */
  delete(bytes: Uint8Array, family: 4 | 6, prefixLen: number, kind: KindCode): boolean {
    const flag = KIND_FLAG[kind];
    if (flag === undefined || flag === 0) return false;
    if (family === 4) {
      checkLen(prefixLen, 32);
      const key = v4ToU32(bytes, 0) & mask4(prefixLen);
      const b = this.find4(key, prefixLen);
      if (b < 0) return false;
      const meta = this.t4[b + V4_META];
      if ((meta & flag) === 0) return false;
      this.clearFlag4(b, meta, flag, prefixLen);
      return true;
    }
    checkLen(prefixLen, 128);
    const [k0, k1, k2, k3] = key6(bytes, prefixLen);
    const b = this.find6(k0, k1, k2, k3, prefixLen);
    if (b < 0) return false;
    const meta = this.t6[b + V6_META];
    if ((meta & flag) === 0) return false;
    this.clearFlag6(b, meta, flag, prefixLen);
    return true;
  }

  /** The service names scoped bans use (ids for `setScoped` and for lookups). */
  readonly services = new ServiceNames();

  /**
   * The temporary ban of exactly this key, into `out` (expiresAt, offences, reasonId): false when
   * there is none. Writer-side bookkeeping; lookups use the check methods.
   */
  readTemp(bytes: Uint8Array, family: 4 | 6, prefixLen: number, out: LookupResult): boolean {
    if (family === 4) {
      checkLen(prefixLen, 32);
      const b = this.find4(v4ToU32(bytes, 0) & mask4(prefixLen), prefixLen);
      if (b < 0) return false;
      const meta = this.t4[b + V4_META];
      if ((meta & F_TEMP) === 0) return false;
      out.expiresAt = this.t4[b + V4_EXP] >>> 0;
      out.offences = (meta >>> M_OFF_SHIFT) & M_OFF_MAX;
      out.reasonId = metaReason(meta);
      return true;
    }
    checkLen(prefixLen, 128);
    const [k0, k1, k2, k3] = key6(bytes, prefixLen);
    const b = this.find6(k0, k1, k2, k3, prefixLen);
    if (b < 0) return false;
    const meta = this.t6[b + V6_META];
    if ((meta & F_TEMP) === 0) return false;
    out.expiresAt = this.t6[b + V6_EXP] >>> 0;
    out.offences = this.t6[b + V6_OFF];
    out.reasonId = metaReason(meta);
    return true;
  }

  /** Whether the table holds an entry (any kind, or the scoped mark) for exactly this key. */
  has(bytes: Uint8Array, family: 4 | 6, prefixLen: number): boolean {
    if (family === 4) {
      checkLen(prefixLen, 32);
      return this.find4(v4ToU32(bytes, 0) & mask4(prefixLen), prefixLen) >= 0;
    }
    checkLen(prefixLen, 128);
    const [k0, k1, k2, k3] = key6(bytes, prefixLen);
    return this.find6(k0, k1, k2, k3, prefixLen) >= 0;
  }

  /**
   * A temporary ban of (address, prefixLen) for one service (an id of `services`) until
   * `expiresAt` (unix s), replacing that service's previous one for the key: the caller gives the
   * latest expiry among the bans that cover the service.
   */
  setScoped(
    service: number,
    bytes: Uint8Array,
    family: 4 | 6,
    prefixLen: number,
    expiresAt: number,
    offences: number,
    reasonId: number,
  ): void {
    if (!Number.isInteger(service) || service < 0 || service >= this.services.size)
      throw new EdgebanError('E_BANTABLE', `unknown service id ${service}`);
    this.scopes ??= new ScopedBans(() => new BanTable({ initialCapacity: 16 }));
    this.scopes.table(service).set(bytes, family, prefixLen, Kind.TEMP_BAN, expiresAt, offences, reasonId);
    this.scopes.refresh(bytes, family, prefixLen);
    if (family === 4 && prefixLen < 32) this.recountScopedRanges();
    else this.mark(bytes, family, prefixLen);
  }

  /** Lift the scoped ban of (address, prefixLen) for one service. */
  deleteScoped(service: number, bytes: Uint8Array, family: 4 | 6, prefixLen: number): boolean {
    const sc = this.scopes;
    const t = sc?.tables[service];
    if (sc === null || t === undefined || t === null) return false;
    if (!t.delete(bytes, family, prefixLen, Kind.TEMP_BAN)) return false;
    sc.refresh(bytes, family, prefixLen);
    if (family === 4 && prefixLen < 32) this.recountScopedRanges();
    else if (!sc.holds(bytes, family, prefixLen)) this.unmark(bytes, family, prefixLen);
    return true;
  }

  /** IPv4 prefixes over the service tables (kept beside the lookups, which read it per call). */
  private recountScopedRanges(): void {
    const sc = this.scopes;
    if (sc === null) return;
    let n = 0;
    for (const t of sc.tables) if (t !== null) for (let l = 0; l < 32; l++) n += t.lenCount4[l];
    sc.ranges4 = n;
  }

  /** Drop temporary bans that ended at or before `now`; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    if (this.scopes !== null) {
      for (const t of this.scopes.tables) if (t !== null) removed += t.sweep(now);
      this.scopes.sweepAny(now);
      this.recountScopedRanges();
      this.sweepMarks();
    }
    for (let s = 0; s < this.cap4; s++) {
      const b = s * V4_WORDS;
      const meta = this.t4[b + V4_META];
      if ((meta & M_OCC) !== 0 && (meta & F_TEMP) !== 0 && this.t4[b + V4_EXP] >>> 0 <= now) {
        this.clearFlag4(b, meta, F_TEMP, metaLen(meta));
        removed++;
      }
    }
    for (let s = 0; s < this.cap6; s++) {
      const b = s * V6_WORDS;
      const meta = this.t6[b + V6_META];
      if ((meta & M_OCC) !== 0 && (meta & F_TEMP) !== 0 && this.t6[b + V6_EXP] >>> 0 <= now) {
        this.clearFlag6(b, meta, F_TEMP, metaLen(meta));
        removed++;
      }
    }
    this.maybeCompact();
    return removed;
  }

  stats(): BanTableStats {
    if (this.r4Dirty) this.rebuildRange4();
    let ranges = 0;
    for (let l = 0; l < 32; l++) ranges += this.lenCount4[l];
    for (let l = 0; l < 128; l++) ranges += this.lenCount6[l];
    const h = this.h;
    return {
      exact: this.lenCount4[32] + this.lenCount6[128],
      ranges,
      capacity: this.cap4 + this.cap6,
      sabBytes:
        h.control.byteLength +
        h.v4.byteLength +
        h.v6.byteLength +
        h.bits6.byteLength +
        Object.values(h.r4).reduce((n, b) => n + b.byteLength, 0),
      generation: this.gen,
      tombstones: this.tomb4 + this.tomb6,
    };
  }

  /** Every entry, one per kind present (a blacklisted and temp-banned address yields two). */
  *entries(): Iterable<BanTableEntry> {
    for (let s = 0; s < this.cap4; s++) {
      const b = s * V4_WORDS;
      const meta = this.t4[b + V4_META];
      if ((meta & M_OCC) === 0) continue;
      const k = this.t4[b + V4_KEY];
      const bytes = new Uint8Array([k >>> 24, (k >>> 16) & 255, (k >>> 8) & 255, k & 255]);
      yield* expand(bytes, 4, meta, this.t4[b + V4_EXP] >>> 0, (meta >>> M_OFF_SHIFT) & M_OFF_MAX);
    }
    for (let s = 0; s < this.cap6; s++) {
      const b = s * V6_WORDS;
      const meta = this.t6[b + V6_META];
      if ((meta & M_OCC) === 0) continue;
      const bytes = new Uint8Array(16);
      const dv = new DataView(bytes.buffer);
      for (let w = 0; w < 4; w++) dv.setInt32(w * 4, this.t6[b + w]);
      yield* expand(bytes, 6, meta, this.t6[b + V6_EXP] >>> 0, this.t6[b + V6_OFF]);
    }
  }

  /**
   * All entries and reason texts, for a fast restart: the raw slot arrays behind a small header
   * (`EBT1`, the two capacities, the length of the reasons' JSON), no per-entry encoding.
   */
  snapshot(): Uint8Array {
    const reasons = Buffer.from(JSON.stringify(this.reasons));
    const v4 = new Uint8Array(this.h.v4);
    const v6 = new Uint8Array(this.h.v6);
    const out = Buffer.allocUnsafe(16 + v4.length + v6.length + reasons.length);
    out.write(SNAPSHOT_MAGIC, 0, 'latin1');
    out.writeUInt32LE(this.cap4, 4);
    out.writeUInt32LE(this.cap6, 8);
    out.writeUInt32LE(reasons.length, 12);
    out.set(v4, 16);
    out.set(v6, 16 + v4.length);
    reasons.copy(out, 16 + v4.length + v6.length);
    return out;
  }

  static fromSnapshot(buf: Uint8Array): BanTable {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (b.length < 16 || b.toString('latin1', 0, 4) !== SNAPSHOT_MAGIC) {
      throw new EdgebanError('E_SNAPSHOT', `not a ban table snapshot (${SNAPSHOT_MAGIC})`);
    }
    const cap4 = b.readUInt32LE(4);
    const cap6 = b.readUInt32LE(8);
    const v4Len = cap4 * V4_WORDS * 4;
    const v6Len = cap6 * V6_WORDS * 4;
    const rLen = b.readUInt32LE(12);
    if (
      cap4 < 1 ||
      cap6 < 1 ||
      nextPow2(cap4) !== cap4 ||
      nextPow2(cap6) !== cap6 ||
      16 + v4Len + v6Len + rLen !== b.length
    ) {
      throw new EdgebanError('E_SNAPSHOT', 'ban table snapshot has a corrupt size');
    }
    let reasons: unknown;
    try {
      reasons = JSON.parse(b.toString('utf8', 16 + v4Len + v6Len));
    } catch {
      reasons = null;
    }
    if (!Array.isArray(reasons) || reasons.some((r) => typeof r !== 'string')) {
      throw new EdgebanError('E_SNAPSHOT', 'ban table snapshot has corrupt reasons');
    }
    const t = new BanTable({ initialCapacity: 16 });
    const h = BanTable.allocate(t.h.control, cap4, cap6, t.gen + 1);
    new Uint8Array(h.v4).set(b.subarray(16, 16 + v4Len));
    new Uint8Array(h.v6).set(b.subarray(16 + v4Len, 16 + v4Len + v6Len));
    t.install(h);
    t.recount();
    for (let i = 1; i < reasons.length; i++) t.reasonId(reasons[i] as string);
    Atomics.store(t.ctrl, C_GEN, t.gen);
    return t;
  }

  // --- internals ------------------------------------------------------------------------

  /** Rebuild counts, masks and bitmaps from the slots (after loading raw slot arrays). */
  private recount(): void {
    this.count4 = this.tomb4 = this.count6 = this.tomb6 = 0;
    this.lenCount4.fill(0);
    this.lenCount6.fill(0);
    for (let s = 0; s < this.cap4; s++) {
      const b = s * V4_WORDS;
      const meta = this.t4[b + V4_META];
      this.t4[b + V4_SEQ] = 0;
      if ((meta & M_TOMB) !== 0) this.tomb4++;
      if ((meta & M_OCC) === 0) continue;
      this.count4++;
      this.noteLen4(metaLen(meta));
    }
    for (let s = 0; s < this.cap6; s++) {
      const b = s * V6_WORDS;
      const meta = this.t6[b + V6_META];
      this.t6[b + V6_SEQ] = 0;
      if ((meta & M_TOMB) !== 0) this.tomb6++;
      if ((meta & M_OCC) === 0) continue;
      this.count6++;
      this.noteLen6(metaLen(meta), this.t6[b]);
    }
  }

  private noteLen4(len: number): void {
    this.lenCount4[len]++;
    if (len < 32) this.rangesChanged();
  }

  /**
   * IPv4 ranges changed: the writer's next IPv4 lookup rebuilds the index, and so does the
   * next turn of the event loop, for readers in other threads.
   */
  private rangesChanged(): void {
    this.r4Dirty = true;
    if (this.r4Scheduled) return;
    this.r4Scheduled = true;
    setImmediate(() => {
      this.r4Scheduled = false;
      if (this.r4Dirty) this.rebuildRange4();
    }).unref();
  }

  private noteLen6(len: number, k0: number): void {
    this.lenCount6[len]++;
    if (len < 128) {
      const idx = k0 >>> 16;
      Atomics.or(this.b6, len * BITMAP_WORDS + (idx >>> 5), 1 << (idx & 31));
      Atomics.or(this.ctrl, C_V6MASK + (len >>> 5), 1 << (len & 31));
    }
  }

  private dropLen4(len: number): void {
    this.lenCount4[len]--;
    if (len < 32) this.rangesChanged();
  }

  private dropLen6(len: number): void {
    if (--this.lenCount6[len] === 0 && len < 128)
      Atomics.and(this.ctrl, C_V6MASK + (len >>> 5), ~(1 << (len & 31)));
  }

  private find4(key: number, len: number): number {
    const t = this.t4;
    const mask = this.cap4 - 1;
    let i = hash4(key, len) >>> this.shift4;
    for (;;) {
      const b = i * V4_WORDS;
      const meta = t[b + V4_META];
      if (meta === 0) return -1;
      if ((meta & M_OCC) !== 0 && t[b + V4_KEY] === key && metaLen(meta) === len) return b;
      i = (i + 1) & mask;
    }
  }

  private find6(k0: number, k1: number, k2: number, k3: number, len: number): number {
    const t = this.t6;
    const mask = this.cap6 - 1;
    let i = hash6(k0, k1, k2, k3, len) >>> this.shift6;
    for (;;) {
      const b = i * V6_WORDS;
      const meta = t[b + V6_META];
      if (meta === 0) return -1;
      if (
        (meta & M_OCC) !== 0 &&
        t[b] === k0 &&
        t[b + 1] === k1 &&
        t[b + 2] === k2 &&
        t[b + 3] === k3 &&
        metaLen(meta) === len
      ) {
        return b;
      }
      i = (i + 1) & mask;
    }
  }

  private set4(
    bytes: Uint8Array,
    len: number,
    flag: number,
    exp: number,
    offences: number,
    reasonId: number,
  ): void {
    checkLen(len, 32);
    const key = v4ToU32(bytes, 0) & mask4(len);
    const off = Math.min(Math.max(offences, 0), M_OFF_MAX);
    const reason = reasonId > REASON_MAX || reasonId < 0 ? 0 : reasonId;
    const b = this.find4(key, len);
    if (b >= 0) {
      const t = this.t4;
      const meta = t[b + V4_META];
      const expNext = flag === F_TEMP ? exp : t[b + V4_EXP];
      const next =
        M_OCC |
        (meta & M_HELD) |
        flag |
        (len << M_LEN_SHIFT) |
        (off << M_OFF_SHIFT) |
        (reason << M_REASON_SHIFT);
      Atomics.add(t, b + V4_SEQ, 1);
      t[b + V4_EXP] = expNext;
      t[b + V4_META] = next;
      Atomics.add(t, b + V4_SEQ, 1);
      return;
    }
    this.insert4(
      key,
      len,
      flag === F_TEMP ? exp : 0,
      M_OCC | flag | (len << M_LEN_SHIFT) | (off << M_OFF_SHIFT) | (reason << M_REASON_SHIFT),
    );
  }

  /** A new slot for a key known to be absent (the table grows first when it is full). */
  private insert4(key: number, len: number, exp: number, meta: number): void {
    if (this.count4 + this.tomb4 + 1 > this.cap4 * MAX_LOAD)
      this.rebuild(Math.max(this.cap4, nextPow2((this.count4 + 1) * 2)), this.cap6);
    const b = this.freeSlot4(key, len);
    const t = this.t4;
    if ((t[b + V4_META] & M_TOMB) !== 0) this.tomb4--;
    Atomics.add(t, b + V4_SEQ, 1);
    t[b + V4_KEY] = key;
    t[b + V4_EXP] = exp;
    t[b + V4_META] = meta;
    Atomics.add(t, b + V4_SEQ, 1);
    this.count4++;
    this.noteLen4(len);
  }

  private set6(
    bytes: Uint8Array,
    len: number,
    flag: number,
    exp: number,
    offences: number,
    reasonId: number,
  ): void {
    checkLen(len, 128);
    if (bytes.length !== 16) throw new EdgebanError('E_BANTABLE', 'an IPv6 entry needs 16 bytes');
    const [k0, k1, k2, k3] = key6(bytes, len);
    const reason = reasonId > REASON_MAX || reasonId < 0 ? 0 : reasonId;
    const b = this.find6(k0, k1, k2, k3, len);
    if (b >= 0) {
      const t = this.t6;
      const meta = t[b + V6_META];
      Atomics.add(t, b + V6_SEQ, 1);
      if (flag === F_TEMP) t[b + V6_EXP] = exp;
      t[b + V6_OFF] = offences;
      t[b + V6_META] = M_OCC | (meta & M_HELD) | flag | (len << M_LEN_SHIFT) | (reason << M_REASON_SHIFT);
      Atomics.add(t, b + V6_SEQ, 1);
      return;
    }
    this.insert6(
      k0,
      k1,
      k2,
      k3,
      len,
      flag === F_TEMP ? exp : 0,
      offences,
      M_OCC | flag | (len << M_LEN_SHIFT) | (reason << M_REASON_SHIFT),
    );
  }

  /** A new slot for a key known to be absent (the table grows first when it is full). */
  private insert6(
    k0: number,
    k1: number,
    k2: number,
    k3: number,
    len: number,
    exp: number,
    offences: number,
    meta: number,
  ): void {
    if (this.count6 + this.tomb6 + 1 > this.cap6 * MAX_LOAD)
      this.rebuild(this.cap4, Math.max(this.cap6, nextPow2((this.count6 + 1) * 2)));
    const b = this.freeSlot6(k0, k1, k2, k3, len);
    const t = this.t6;
    if ((t[b + V6_META] & M_TOMB) !== 0) this.tomb6--;
    Atomics.add(t, b + V6_SEQ, 1);
    t[b] = k0;
    t[b + 1] = k1;
    t[b + 2] = k2;
    t[b + 3] = k3;
    t[b + V6_EXP] = exp;
    t[b + V6_OFF] = offences;
    t[b + V6_META] = meta;
    Atomics.add(t, b + V6_SEQ, 1);
    this.count6++;
    this.noteLen6(len, k0);
  }

  /** Set the scoped mark on (address, prefixLen), making a slot that holds only it if need be. */
  private mark(bytes: Uint8Array, family: 4 | 6, len: number): void {
    if (family === 4) {
      checkLen(len, 32);
      const key = v4ToU32(bytes, 0) & mask4(len);
      const b = this.find4(key, len);
      const t = this.t4;
      if (b < 0) {
        this.insert4(key, len, 0, M_OCC | M_SCOPED | (len << M_LEN_SHIFT));
        return;
      }
      const meta = t[b + V4_META];
      if ((meta & M_SCOPED) !== 0) return;
      Atomics.add(t, b + V4_SEQ, 1);
      t[b + V4_META] = meta | M_SCOPED;
      Atomics.add(t, b + V4_SEQ, 1);
      return;
    }
    checkLen(len, 128);
    const [k0, k1, k2, k3] = key6(bytes, len);
    const b = this.find6(k0, k1, k2, k3, len);
    if (b < 0) {
      this.insert6(k0, k1, k2, k3, len, 0, 0, M_OCC | M_SCOPED | (len << M_LEN_SHIFT));
      return;
    }
    const t = this.t6;
    const meta = t[b + V6_META];
    if ((meta & M_SCOPED) !== 0) return;
    Atomics.add(t, b + V6_SEQ, 1);
    t[b + V6_META] = meta | M_SCOPED;
    Atomics.add(t, b + V6_SEQ, 1);
  }

  private unmark(bytes: Uint8Array, family: 4 | 6, len: number): void {
    if (family === 4) {
      const b = this.find4(v4ToU32(bytes, 0) & mask4(len), len);
      if (b >= 0 && (this.t4[b + V4_META] & M_SCOPED) !== 0)
        this.clearFlag4(b, this.t4[b + V4_META], M_SCOPED, len);
      return;
    }
    const [k0, k1, k2, k3] = key6(bytes, len);
    const b = this.find6(k0, k1, k2, k3, len);
    if (b >= 0 && (this.t6[b + V6_META] & M_SCOPED) !== 0)
      this.clearFlag6(b, this.t6[b + V6_META], M_SCOPED, len);
  }

  /** Clear the marks whose scoped bans all ended (after the service tables were swept). */
  private sweepMarks(): void {
    const sc = this.scopes;
    if (sc === null) return;
    const k = this.markBytes;
    for (let s = 0; s < this.cap4; s++) {
      const b = s * V4_WORDS;
      const meta = this.t4[b + V4_META];
      if ((meta & M_SCOPED) === 0 || (meta & M_OCC) === 0) continue;
      const key = this.t4[b + V4_KEY];
      k[0] = key >>> 24;
      k[1] = (key >>> 16) & 255;
      k[2] = (key >>> 8) & 255;
      k[3] = key & 255;
      if (!sc.holds(k, 4, metaLen(meta))) this.clearFlag4(b, meta, M_SCOPED, metaLen(meta));
    }
    for (let s = 0; s < this.cap6; s++) {
      const b = s * V6_WORDS;
      const meta = this.t6[b + V6_META];
      if ((meta & M_SCOPED) === 0 || (meta & M_OCC) === 0) continue;
      for (let w = 0; w < 4; w++) {
        const v = this.t6[b + w];
        k[w * 4] = v >>> 24;
        k[w * 4 + 1] = (v >>> 16) & 255;
        k[w * 4 + 2] = (v >>> 8) & 255;
        k[w * 4 + 3] = v & 255;
      }
      if (!sc.holds(k, 6, metaLen(meta))) this.clearFlag6(b, meta, M_SCOPED, metaLen(meta));
    }
  }

  /** First tombstone or empty slot on the probe path of a key known to be absent. */
  private freeSlot4(key: number, len: number): number {
    const mask = this.cap4 - 1;
    let i = hash4(key, len) >>> this.shift4;
    for (;;) {
      const b = i * V4_WORDS;
      if ((this.t4[b + V4_META] & M_OCC) === 0) return b;
      i = (i + 1) & mask;
    }
  }

  private freeSlot6(k0: number, k1: number, k2: number, k3: number, len: number): number {
    const mask = this.cap6 - 1;
    let i = hash6(k0, k1, k2, k3, len) >>> this.shift6;
    for (;;) {
      const b = i * V6_WORDS;
      if ((this.t6[b + V6_META] & M_OCC) === 0) return b;
      i = (i + 1) & mask;
    }
  }

  private clearFlag4(b: number, meta: number, flag: number, len: number): void {
    const t = this.t4;
    const rest = meta & M_HELD & ~flag;
    Atomics.add(t, b + V4_SEQ, 1);
    if (rest === 0) t[b + V4_META] = M_TOMB;
    else t[b + V4_META] = (meta & ~M_HELD) | rest;
    if (flag === F_TEMP) t[b + V4_EXP] = 0;
    Atomics.add(t, b + V4_SEQ, 1);
    if (rest === 0) {
      this.count4--;
      this.tomb4++;
      this.dropLen4(len);
    }
  }

  private clearFlag6(b: number, meta: number, flag: number, len: number): void {
    const t = this.t6;
    const rest = meta & M_HELD & ~flag;
    Atomics.add(t, b + V6_SEQ, 1);
    if (rest === 0) t[b + V6_META] = M_TOMB;
    else t[b + V6_META] = (meta & ~M_HELD) | rest;
    if (flag === F_TEMP) t[b + V6_EXP] = 0;
    Atomics.add(t, b + V6_SEQ, 1);
    if (rest === 0) {
      this.count6--;
      this.tomb6++;
      this.dropLen6(len);
    }
  }

  /**
   * Rebuild the IPv4 range index from the range entries and publish it as a new generation.
   * Called lazily by the first IPv4 lookup after a change, so bulk loads build it once.
   */
  protected override rebuildRange4(): void {
    this.r4Dirty = false;
    let n = 0;
    for (let l = 0; l < 32; l++) n += this.lenCount4[l];
    const entries: Range4Entries = {
      n: 0,
      key: new Int32Array(n),
      len: new Uint8Array(n),
      meta: new Int32Array(n),
      exp: new Int32Array(n),
    };
    for (let s = 0; s < this.cap4 && entries.n < n; s++) {
      const b = s * V4_WORDS;
      const meta = this.t4[b + V4_META];
      if ((meta & M_OCC) === 0 || metaLen(meta) === 32) continue;
      const i = entries.n++;
      entries.key[i] = this.t4[b + V4_KEY];
      entries.len[i] = metaLen(meta);
      entries.meta[i] = meta;
      entries.exp[i] = this.t4[b + V4_EXP];
    }
    this.publish({ ...this.h, r4: buildRange4(entries), generation: this.gen + 1 });
  }

  /** Install a new generation here and hand it to every attached reader. */
  private publish(next: BanTableHandle): void {
    this.install(next);
    for (const p of this.ports) p.postMessage(next);
    Atomics.store(this.ctrl, C_GEN, this.gen);
  }

  /** Compact when tombstones take a quarter of a table (they lengthen probe paths). */
  private maybeCompact(): void {
    if (this.tomb4 > this.cap4 / 4 || this.tomb6 > this.cap6 / 4) {
      const cap4 = Math.max(this.minCap, nextPow2(this.count4 * 2));
      const cap6 = Math.max(this.minCap, nextPow2(this.count6 * 2));
      this.rebuild(cap4, cap6);
    }
  }

  /**
   * Copy-on-write: build the next generation in new buffers, then publish it. Readers keep
   * reading the old buffers (never written again) until they notice the new generation.
   */
  private rebuild(cap4: number, cap6: number): void {
    const old4 = this.t4;
    const old6 = this.t6;
    const oldCap4 = this.cap4;
    const oldCap6 = this.cap6;
    const next = BanTable.allocate(this.h.control, cap4, cap6, this.gen + 1);
    next.r4 = this.h.r4; // the IPv4 range index is unchanged by a hash rebuild
    // Build into the new arrays while the masks in the shared control block stay as they are:
    // the new generation only adds bitmap bits, never drops a length still in use.
    this.t4 = new Int32Array(next.v4);
    this.t6 = new Int32Array(next.v6);
    this.b6 = new Int32Array(next.bits6);
    this.cap4 = cap4;
    this.cap6 = cap6;
    this.shift4 = 32 - log2(cap4);
    this.shift6 = 32 - log2(cap6);
    this.tomb4 = this.tomb6 = 0;
    for (let s = 0; s < oldCap4; s++) {
      const ob = s * V4_WORDS;
      const meta = old4[ob + V4_META];
      if ((meta & M_OCC) === 0) continue;
      const key = old4[ob + V4_KEY];
      const b = this.freeSlot4(key, metaLen(meta));
      this.t4[b + V4_KEY] = key;
      this.t4[b + V4_EXP] = old4[ob + V4_EXP];
      this.t4[b + V4_META] = meta;
    }
    for (let s = 0; s < oldCap6; s++) {
      const ob = s * V6_WORDS;
      const meta = old6[ob + V6_META];
      if ((meta & M_OCC) === 0) continue;
      const len = metaLen(meta);
      const b = this.freeSlot6(old6[ob], old6[ob + 1], old6[ob + 2], old6[ob + 3], len);
      for (let w = 0; w < V6_WORDS; w++) this.t6[b + w] = old6[ob + w];
      this.t6[b + V6_SEQ] = 0;
      if (len < 128) {
        const idx = old6[ob] >>> 16;
        this.b6[len * BITMAP_WORDS + (idx >>> 5)] |= 1 << (idx & 31);
      }
    }
    this.h = next;
    this.gen = next.generation;
    for (const p of this.ports) p.postMessage(next);
    Atomics.store(this.ctrl, C_GEN, this.gen);
  }
}

function checkLen(len: number, max: number): void {
  if (!Number.isInteger(len) || len < 0 || len > max) {
    throw new EdgebanError('E_BANTABLE', `prefix length ${len} out of range 0..${max}`);
  }
}

function key6(bytes: Uint8Array, len: number): [number, number, number, number] {
  return [
    readWordBE(bytes, 0) & mask6(len, 0),
    readWordBE(bytes, 4) & mask6(len, 1),
    readWordBE(bytes, 8) & mask6(len, 2),
    readWordBE(bytes, 12) & mask6(len, 3),
  ];
}

function* expand(
  bytes: Uint8Array,
  family: 4 | 6,
  meta: number,
  exp: number,
  offences: number,
): Iterable<BanTableEntry> {
  const len = metaLen(meta);
  const reasonId = metaReason(meta);
  for (let k = 0; k < 3; k++) {
    if ((meta & (1 << k)) === 0) continue;
    const kind = FLAG_KINDS[k];
    yield {
      bytes,
      family,
      prefixLen: len,
      kind,
      expiresAt: kind === Kind.TEMP_BAN ? exp : 0,
      offences,
      reasonId,
    };
  }
}
