import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { FAMILY_V4, FAMILY_V6, isV4Mapped, parseIpInto, v4ToU32 } from '../ip/parse.js';
import { Kind, type KindCode, type LookupResult, Verdict, type VerdictCode } from './api.js';
import {
  BITMAP_WORDS,
  C_GEN,
  C_V6MASK,
  F_BLACK,
  F_TEMP,
  F_WHITE,
  M_KINDS,
  M_OCC,
  M_OFF_MAX,
  M_OFF_SHIFT,
  metaLen,
  metaReason,
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
import { lookupRange4, type Range4Buffers } from './range4.js';
import type { ScopedBans } from './scoped.js';
import { SERVICE_ANY } from './services.js';

/** The SharedArrayBuffers of one generation; plain data, safe to postMessage to a worker. */
export interface BanTableHandle {
  control: SharedArrayBuffer;
  v4: SharedArrayBuffer;
  v6: SharedArrayBuffer;
  bits6: SharedArrayBuffer;
  /** IPv4 range index (range4.ts), rebuilt when IPv4 ranges change. */
  r4: Range4Buffers;
  generation: number;
}

export function log2(n: number): number {
  return 31 - Math.clz32(n);
}

export function nextPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** Fibonacci hashing of an IPv4 key and its prefix length. */
export function hash4(key: number, len: number): number {
  return Math.imul(key ^ Math.imul(len + 1, 0x85ebca6b), 0x9e3779b1);
}

export function hash6(k0: number, k1: number, k2: number, k3: number, len: number): number {
  let h = Math.imul(k0, 0x9e3779b1) ^ k1;
  h = Math.imul(h, 0x85ebca6b) ^ k2;
  h = Math.imul(h, 0xc2b2ae35) ^ k3;
  return Math.imul(h ^ Math.imul(len + 1, 0x27d4eb2f), 0x9e3779b1);
}

/** IPv4 netmask for a prefix length, as an int32. */
export function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) | 0;
}

/** Mask of word `w` (0..3) of an IPv6 address for a prefix length. */
export function mask6(len: number, w: number): number {
  const keep = len - w * 32;
  if (keep >= 32) return -1;
  if (keep <= 0) return 0;
  return (0xffffffff << (32 - keep)) | 0;
}

export function readWordBE(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/**
 * Read side of the ban table: usable in any thread. Lookups are synchronous, allocation-free
 * and never wait: a slot being rewritten (odd seqlock) is simply read again, and a reader that
 * notices a new generation pulls its buffers from its port with `receiveMessageOnPort`.
 */
export class BanTableReader {
  protected ctrl: Int32Array;
  protected t4!: Int32Array;
  protected t6!: Int32Array;
  protected b6!: Int32Array;
  protected r0!: Int32Array;
  protected r1!: Int32Array;
  protected r2!: Int32Array;
  protected r3!: Int32Array;
  protected r4l!: Int32Array;
  protected rres!: Int32Array;
  /** Writer only: IPv4 ranges changed since the index was built. */
  protected r4Dirty = false;
  protected shift4 = 0;
  protected cap4 = 0;
  protected shift6 = 0;
  protected cap6 = 0;
  protected gen = 0;
  protected h!: BanTableHandle;
  /** The writer's per-service tables (null until a ban is scoped; readers in other threads have none). */
  protected scopes: ScopedBans | null = null;
  private readonly port: MessagePort | null;
  private readonly scratch = new Uint8Array(16);
  /**
   * False for the writer itself: on the writer's thread no write can interleave with a read,
   * so its lookups (the servers on the main thread) skip the seqlock's atomic loads.
   */
  protected concurrent: boolean;

  protected constructor(h: BanTableHandle, port: MessagePort | null, concurrent = true) {
    this.ctrl = new Int32Array(h.control);
    this.port = port;
    this.concurrent = concurrent;
    this.install(h);
  }

  /**
   * Attach to a table from another thread: `handle` and `port` come from the writer's
   * `attachReader()` (post both to the worker; transfer the port).
   */
  static attach(handle: BanTableHandle, port?: MessagePort): BanTableReader {
    return new BanTableReader(handle, port ?? null);
  }

  protected install(h: BanTableHandle): void {
    this.h = h;
    this.t4 = new Int32Array(h.v4);
    this.t6 = new Int32Array(h.v6);
    this.b6 = new Int32Array(h.bits6);
    this.r0 = new Int32Array(h.r4.l0);
    this.r1 = new Int32Array(h.r4.l1);
    this.r2 = new Int32Array(h.r4.l2);
    this.r3 = new Int32Array(h.r4.l3);
    this.r4l = new Int32Array(h.r4.l4);
    this.rres = new Int32Array(h.r4.res);
    this.cap4 = this.t4.length / V4_WORDS;
    this.cap6 = this.t6.length / V6_WORDS;
    this.shift4 = 32 - log2(this.cap4);
    this.shift6 = 32 - log2(this.cap6);
    this.gen = h.generation;
  }

  /** Move to the newest generation if the writer published one (readers in other threads). */
  protected sync(): void {
    // A plain read is enough: a stale generation number only delays the move to the new
    // buffers, and the old ones stay consistent (they are never written again).
    if (this.port === null || this.ctrl[C_GEN] === this.gen) return;
    for (;;) {
      const m = receiveMessageOnPort(this.port);
      if (m === undefined) return;
      const h = m.message as BanTableHandle;
      if (h.generation > this.gen) this.install(h);
    }
  }

  /**
   * Verdict for an IPv4 address given as an unsigned 32-bit number, for a request to `service`
   * (an id of `services`; SERVICE_ANY when the request names none: every ban counts).
   */
  checkV4(addr: number, now: number, out: LookupResult, service = SERVICE_ANY): VerdictCode {
    this.sync();
    out.reset();
    const key = addr | 0;
    this.visit4(key, 32, now, out);
    if (out.kind !== Kind.WHITELIST) {
      if (this.r4Dirty) this.rebuildRange4();
      const rid = lookupRange4(this.r0, this.r1, this.r2, this.r3, this.r4l, key);
      if (rid > 0) {
        const r = this.rres;
        const b = rid * 4;
        if (r[b] !== 0) this.fold(r[b], 0, (r[b] >>> M_OFF_SHIFT) & M_OFF_MAX, metaLen(r[b]), now, out);
        if (r[b + 1] !== 0)
          this.fold(r[b + 1], 0, (r[b + 1] >>> M_OFF_SHIFT) & M_OFF_MAX, metaLen(r[b + 1]), now, out);
        const t = r[b + 2];
        if (t !== 0) this.fold(t, r[b + 3] >>> 0, (t >>> M_OFF_SHIFT) & M_OFF_MAX, metaLen(t), now, out);
      }
    }
    const sc = this.scopes;
    if (out.kind === Kind.NONE && sc !== null && (out.scoped || sc.ranges4 > 0))
      sc.check4(key, now, out, service);
    return this.decide(out);
  }

  /** Verdict for 16 bytes of IPv6 at `off` (IPv4-mapped addresses are looked up as IPv4). */
  checkV6(
    bytes: Uint8Array,
    off: number,
    now: number,
    out: LookupResult,
    service = SERVICE_ANY,
  ): VerdictCode {
    if (isV4Mapped(bytes, off)) return this.checkV4(v4ToU32(bytes, off + 12), now, out, service);
    this.sync();
    out.reset();
    const k0 = readWordBE(bytes, off);
    const k1 = readWordBE(bytes, off + 4);
    const k2 = readWordBE(bytes, off + 8);
    const k3 = readWordBE(bytes, off + 12);
    this.visit6(k0, k1, k2, k3, 128, now, out);
    for (let w = 3; w >= 0 && out.kind !== Kind.WHITELIST; w--) {
      let m = this.ctrl[C_V6MASK + w];
      while (m !== 0 && (out.kind as number) !== Kind.WHITELIST) {
        const bit = 31 - Math.clz32(m);
        m &= ~(1 << bit);
        const len = w * 32 + bit;
        const m0 = k0 & mask6(len, 0);
        const idx = m0 >>> 16;
        if ((this.b6[len * BITMAP_WORDS + (idx >>> 5)] & (1 << (idx & 31))) === 0) continue;
        this.visit6(m0, k1 & mask6(len, 1), k2 & mask6(len, 2), k3 & mask6(len, 3), len, now, out);
      }
    }
    const sc = this.scopes;
    if (out.kind === Kind.NONE && sc !== null && out.scoped) sc.check6(bytes, off, now, out, service);
    return this.decide(out);
  }

  /** Verdict for 4 or 16 address bytes (as HAProxy sends them). */
  checkBytes(
    bytes: Uint8Array,
    off: number,
    len: 4 | 16,
    now: number,
    out: LookupResult,
    service = SERVICE_ANY,
  ): VerdictCode {
    if (len === 4) return this.checkV4(v4ToU32(bytes, off), now, out, service);
    return this.checkV6(bytes, off, now, out, service);
  }

  /** Verdict for an address in text; -1 when it is not an address (nothing is looked up). */
  checkString(s: string, now: number, out: LookupResult, service = SERVICE_ANY): VerdictCode | -1 {
    const fam = parseIpInto(s, this.scratch);
    if (fam === FAMILY_V4) return this.checkV4(v4ToU32(this.scratch, 0), now, out, service);
    if (fam === FAMILY_V6) return this.checkV6(this.scratch, 0, now, out, service);
    out.reset();
    return -1;
  }

  /** Writer only (overridden): rebuild the IPv4 range index after a change. */
  protected rebuildRange4(): void {}

  private decide(out: LookupResult): VerdictCode {
    out.verdict = out.kind === Kind.BLACKLIST || out.kind === Kind.TEMP_BAN ? Verdict.DENY : Verdict.ALLOW;
    return out.verdict;
  }

  /** Fold the entry (key, len), if present, into `out` by precedence. */
  private visit4(key: number, len: number, now: number, out: LookupResult): void {
    const t = this.t4;
    const mask = this.cap4 - 1;
    let i = hash4(key, len) >>> this.shift4;
    if (!this.concurrent) {
      for (;;) {
        const b = i * V4_WORDS;
        const meta = t[b + V4_META];
        if (meta === 0) return;
        if ((meta & M_OCC) !== 0 && t[b + V4_KEY] === key && metaLen(meta) === len) {
          this.fold(meta, t[b + V4_EXP] >>> 0, (meta >>> M_OFF_SHIFT) & M_OFF_MAX, len, now, out);
          return;
        }
        i = (i + 1) & mask;
      }
    }
    for (;;) {
      const b = i * V4_WORDS;
      const s1 = Atomics.load(t, b + V4_SEQ);
      const meta = t[b + V4_META];
      const k = t[b + V4_KEY];
      const exp = t[b + V4_EXP] >>> 0;
      if (s1 !== Atomics.load(t, b + V4_SEQ) || (s1 & 1) !== 0) continue; // being written: read again
      if (meta === 0) return;
      if ((meta & M_OCC) !== 0 && k === key && metaLen(meta) === len) {
        this.fold(meta, exp, (meta >>> M_OFF_SHIFT) & M_OFF_MAX, len, now, out);
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private visit6(
    k0: number,
    k1: number,
    k2: number,
    k3: number,
    len: number,
    now: number,
    out: LookupResult,
  ): void {
    const t = this.t6;
    const mask = this.cap6 - 1;
    let i = hash6(k0, k1, k2, k3, len) >>> this.shift6;
    if (!this.concurrent) {
      for (;;) {
        const b = i * V6_WORDS;
        const meta = t[b + V6_META];
        if (meta === 0) return;
        if (
          (meta & M_OCC) !== 0 &&
          t[b] === k0 &&
          t[b + 1] === k1 &&
          t[b + 2] === k2 &&
          t[b + 3] === k3 &&
          metaLen(meta) === len
        ) {
          this.fold(meta, t[b + V6_EXP] >>> 0, t[b + V6_OFF], len, now, out);
          return;
        }
        i = (i + 1) & mask;
      }
    }
    for (;;) {
      const b = i * V6_WORDS;
      const s1 = Atomics.load(t, b + V6_SEQ);
      const meta = t[b + V6_META];
      const match = t[b] === k0 && t[b + 1] === k1 && t[b + 2] === k2 && t[b + 3] === k3;
      const exp = t[b + V6_EXP] >>> 0;
      const off = t[b + V6_OFF];
      if (s1 !== Atomics.load(t, b + V6_SEQ) || (s1 & 1) !== 0) continue;
      if (meta === 0) return;
      if ((meta & M_OCC) !== 0 && match && metaLen(meta) === len) {
        this.fold(meta, exp, off, len, now, out);
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private fold(
    meta: number,
    exp: number,
    offences: number,
    len: number,
    now: number,
    out: LookupResult,
  ): void {
    if (meta < 0) out.scoped = true; // M_SCOPED is the sign bit
    const flags = meta & M_KINDS;
    if ((flags & F_WHITE) !== 0) {
      this.assign(out, Kind.WHITELIST, 0, 0, meta, len);
    } else if ((flags & F_BLACK) !== 0 && out.kind < Kind.BLACKLIST) {
      this.assign(out, Kind.BLACKLIST, 0, offences, meta, len);
    } else if ((flags & F_TEMP) !== 0 && out.kind === Kind.NONE && exp > now) {
      this.assign(out, Kind.TEMP_BAN, exp, offences, meta, len);
    }
  }

  private assign(
    out: LookupResult,
    kind: KindCode,
    exp: number,
    offences: number,
    meta: number,
    len: number,
  ): void {
    out.kind = kind;
    out.expiresAt = exp;
    out.offences = offences;
    out.reasonId = metaReason(meta);
    out.prefixLen = len;
  }
}
