import {
  type BanTableReader,
  LookupResult,
  SERVICE_ANY,
  type ServiceNames,
  Verdict,
} from '../../shared/bantable/index.js';
import { fallbackReason } from '../../shared/verdict.js';
import { Action, DataType, FLAG_FIN, FrameType } from './protocol.js';
import { encodeVarint, VarintReader } from './varint.js';

/** What the ACK for an address carries (from `spoa.*` config). */
export interface AckOptions {
  /** SET-VAR scope byte (0 proc … 4 res). */
  scope: number;
  setReason: boolean;
  setTtl: boolean;
}

/** Counters the hot path bumps; Prometheus reads them at scrape (metrics/feed.ts). */
export class NotifyCounters {
  notifies = 0;
  allowed = 0;
  denied = 0;
  noAddress = 0;
  handlerErrors = 0;
}

/** Result codes of `answer` besides a new output offset. */
export const NOTIFY_INVALID = -1;
/** The ACK would not fit in the negotiated max-frame-size (the caller disconnects with status 3). */
export const NOTIFY_TOO_BIG = -2;

/**
 * Fewest payload bytes of a message that gets a verdict: empty name, NB-ARGS, empty arg name,
 * IPV4 type and 4 bytes (a STRING address needs a 2-byte name and at least one character).
 */
const MIN_VERDICT_MESSAGE = 8;

const NAME_IP = [0x69, 0x70]; // "ip"
const NAME_SRC = [0x73, 0x72, 0x63]; // "src"
const NAME_SRC_IP = [0x73, 0x72, 0x63, 0x5f, 0x69, 0x70]; // "src_ip"
const NAME_SERVICE = [0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65]; // "service"

function nameIs(buf: Uint8Array, p: number, n: number, name: number[]): boolean {
  if (n !== name.length) return false;
  for (let i = 0; i < n; i++) if (buf[p + i] !== name[i]) return false;
  return true;
}

function isAddressName(buf: Uint8Array, p: number, n: number): boolean {
  return nameIs(buf, p, n, NAME_SRC) || nameIs(buf, p, n, NAME_IP) || nameIs(buf, p, n, NAME_SRC_IP);
}

/**
 * NOTIFY → ACK, the hot path. Walks the message list in place (no decoding into objects), looks
 * each message's client address up in the ban table and writes the ACK frame straight into the
 * caller's output buffer. Nothing is allocated unless an address arrives as a STRING.
 *
 * A message may name the service that asks with a STRING argument `service` (in any position):
 * its address is then judged against the bans covering every service plus that service's own.
 * The first `service` argument of a message decides; when it is not a STRING the message names
 * no service and every ban counts (so a misconfigured frontend cannot slip past a scoped ban).
 */
export class NotifyAnswerer {
  readonly counters = new NotifyCounters();
  private readonly table: BanTableReader;
  /** Resolves `service` arguments to ids; null when no scoped ban can exist (every ban counts). */
  private readonly services: ServiceNames | null;
  private readonly opts: AckOptions;
  private readonly out = new LookupResult();
  private readonly varint = new VarintReader();
  /** Pre-encoded `SET-VAR <scope> "banned" UINT32` prefix; the value byte follows. */
  private readonly bannedPrefix: Buffer;
  /** A message of the NOTIFY being answered was banned: later allowed ones write nothing. */
  private bannedInAck = false;
  private readonly reasonPrefix: Buffer;
  private readonly ttlPrefix: Buffer;
  private readonly reasonCache = new Map<number, Buffer>();
  private reasonText: (id: number) => string;
  /** Worst-case bytes of the actions written for one message. */
  readonly maxActionBytes: number;

  constructor(
    table: BanTableReader,
    opts: AckOptions,
    reasonText: (id: number) => string,
    services: ServiceNames | null = null,
  ) {
    this.table = table;
    this.services = services;
    this.opts = opts;
    this.reasonText = reasonText;
    this.bannedPrefix = Buffer.from([
      Action.SET_VAR,
      3,
      opts.scope,
      6,
      ...Buffer.from('banned'),
      DataType.UINT32,
    ]);
    this.reasonPrefix = Buffer.from([
      Action.SET_VAR,
      3,
      opts.scope,
      10,
      ...Buffer.from('ban_reason'),
      DataType.STRING,
    ]);
    this.ttlPrefix = Buffer.from([
      Action.SET_VAR,
      3,
      opts.scope,
      7,
      ...Buffer.from('ban_ttl'),
      DataType.INT32,
    ]);
    this.maxActionBytes =
      this.bannedPrefix.length +
      1 +
      (opts.setReason ? this.reasonPrefix.length + 3 + 255 : 0) +
      (opts.setTtl ? this.ttlPrefix.length + 10 : 0);
  }

  /**
   * Bytes the caller must have free at the output offset before `answer` for a NOTIFY frame
   * with `idLen` bytes of ids and `payloadLen` bytes of messages: an exact upper bound of the
   * ACK (length prefix included) capped at the frame limit, plus room for one verdict past it.
   */
  reserveFor(idLen: number, payloadLen: number, maxFrame: number): number {
    const ack = 9 + idLen + Math.floor(payloadLen / MIN_VERDICT_MESSAGE) * this.maxActionBytes;
    return Math.min(ack, 4 + maxFrame) + this.maxActionBytes;
  }

  /**
   * Answer the NOTIFY whose frame spans [start, end) of `buf` (after the 4-byte length; the
   * header is already validated: FIN set, sid/fid varints at [idStart, payload)). Writes the ACK
   * (with its length prefix) at `dst[o]` and returns the offset after it, NOTIFY_INVALID when
   * the payload is malformed (the caller disconnects with status 4), or NOTIFY_TOO_BIG when the
   * verdicts do not fit in `maxFrame` (status 3: a truncated ACK would silently drop verdicts).
   * Writes never pass `dst.length` (the caller reserves `reserveFor(...)` bytes); the length
   * prefix always counts exactly the bytes written for this ACK.
   */
  answer(
    buf: Uint8Array,
    idStart: number,
    payload: number,
    end: number,
    dst: Buffer,
    o: number,
    now: number,
    maxFrame: number,
  ): number {
    const frameStart = o;
    const frameEnd = o + 4 + maxFrame;
    const room = dst.length - this.maxActionBytes;
    if (o + 9 + (payload - idStart) > room) return NOTIFY_TOO_BIG;
    dst[o + 4] = FrameType.ACK;
    dst[o + 5] = 0;
    dst[o + 6] = 0;
    dst[o + 7] = 0;
    dst[o + 8] = FLAG_FIN;
    let w = o + 9;
    for (let i = idStart; i < payload; i++) dst[w++] = buf[i]; // echo sid/fid bytes verbatim
    const actionsStart = w;
    this.bannedInAck = false;
    this.counters.notifies++;
    const varint = this.varint;
    let p = payload;
    while (p < end) {
      // message name (bare string), then NB-ARGS
      if (!varint.decode(buf, p, end)) return NOTIFY_INVALID;
      p = varint.next + varint.value;
      if (varint.value > end - varint.next || p >= end) return NOTIFY_INVALID;
      let nargs = buf[p++];
      let addrType = -1;
      let addrAt = 0;
      let addrLen = 0;
      let service = SERVICE_ANY;
      let serviceSeen = false;
      while (nargs-- > 0) {
        if (!varint.decode(buf, p, end)) return NOTIFY_INVALID;
        const nameLen = varint.value;
        const nameAt = varint.next;
        if (nameLen > end - nameAt) return NOTIFY_INVALID;
        p = nameAt + nameLen;
        if (p >= end) return NOTIFY_INVALID;
        const type = buf[p] & 0x0f;
        p++;
        // the first `service` argument decides; any type but STRING leaves SERVICE_ANY
        const isService = !serviceSeen && nameIs(buf, nameAt, nameLen, NAME_SERVICE);
        if (isService) serviceSeen = true;
        switch (type) {
          case DataType.NULL:
          case DataType.BOOL:
            break;
          case DataType.INT32:
          case DataType.UINT32:
          case DataType.INT64:
          case DataType.UINT64:
            if (!varint.decode(buf, p, end)) return NOTIFY_INVALID;
            p = varint.next;
            break;
          case DataType.IPV4:
            if (p + 4 > end) return NOTIFY_INVALID;
            if (addrType !== DataType.IPV4 && addrType !== DataType.IPV6) {
              addrType = DataType.IPV4;
              addrAt = p;
            }
            p += 4;
            break;
          case DataType.IPV6:
            if (p + 16 > end) return NOTIFY_INVALID;
            if (addrType !== DataType.IPV4 && addrType !== DataType.IPV6) {
              addrType = DataType.IPV6;
              addrAt = p;
            }
            p += 16;
            break;
          case DataType.STRING:
          case DataType.BINARY:
            if (!varint.decode(buf, p, end)) return NOTIFY_INVALID;
            if (varint.value > end - varint.next) return NOTIFY_INVALID;
            if (type === DataType.STRING && addrType < 0 && isAddressName(buf, nameAt, nameLen)) {
              addrType = DataType.STRING;
              addrAt = varint.next;
              addrLen = varint.value;
            } else if (isService && type === DataType.STRING && this.services !== null) {
              // a name no jail scopes (too long, unknown) resolves to SERVICE_UNSCOPED
              service = this.services.lookupBytes(buf, varint.next, varint.value);
            }
            p = varint.next + varint.value;
            break;
          default:
            return NOTIFY_INVALID; // types 10–15: their size cannot be known
        }
      }
      if (addrType < 0) {
        this.counters.noAddress++;
        continue;
      }
      // past the frame limit, or past what the caller reserved (which covers the limit)
      if (w > frameEnd || w > room) return NOTIFY_TOO_BIG;
      try {
        w = this.writeVerdict(buf, addrType, addrAt, addrLen, service, dst, w, now);
      } catch {
        // A failing handler must cost an ACK's actions, never the connection.
        this.counters.handlerErrors++;
        w = actionsStart;
        this.bannedInAck = false;
      }
    }
    if (w > frameEnd) return NOTIFY_TOO_BIG;
    dst.writeUInt32BE(w - frameStart - 4, frameStart);
    return w;
  }

  private writeVerdict(
    buf: Uint8Array,
    addrType: number,
    at: number,
    len: number,
    service: number,
    dst: Buffer,
    w: number,
    now: number,
  ): number {
    const out = this.out;
    let v: number;
    if (addrType === DataType.IPV4) {
      v = this.table.checkV4(
        // signed on purpose: an int32 stays a small integer, an unsigned one past 2^31 would be
        // boxed at the call (checkV4 reads either the same way)
        (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3],
        now,
        out,
        service,
      );
    } else if (addrType === DataType.IPV6) {
      v = this.table.checkV6(buf, at, now, out, service);
    } else {
      v = this.table.checkString(
        Buffer.from(buf.buffer, buf.byteOffset + at, len).toString('latin1'),
        now,
        out,
        service,
      );
      if (v < 0) {
        this.counters.noAddress++;
        return w;
      }
    }
    const banned = v === Verdict.DENY;
    if (banned) this.counters.denied++;
    else this.counters.allowed++;
    // every message sets the same variable and HAProxy keeps the last one written: once one
    // address of this NOTIFY (src, then a forwarded one) is banned, a later allowed one must not
    // write 0 over it
    if (!banned && this.bannedInAck) return w;
    if (banned) this.bannedInAck = true;
    // most important action first: HAProxy stops at the first one it cannot parse
    this.bannedPrefix.copy(dst, w);
    w += this.bannedPrefix.length;
    dst[w++] = banned ? 1 : 0;
    if (this.opts.setReason) {
      this.reasonPrefix.copy(dst, w);
      w += this.reasonPrefix.length;
      const text = banned ? this.reasonBytes(out.reasonId, out.kind) : EMPTY;
      w = encodeVarint(dst, w, text.length);
      text.copy(dst, w);
      w += text.length;
    }
    if (this.opts.setTtl) {
      this.ttlPrefix.copy(dst, w);
      w += this.ttlPrefix.length;
      if (!banned) dst[w++] = 0;
      else if (out.expiresAt === 0) w = writeMinusOne(dst, w);
      else w = encodeVarint(dst, w, Math.max(0, out.expiresAt - now));
    }
    return w;
  }

  private reasonBytes(id: number, kind: number): Buffer {
    const key = id * 4 + kind;
    let b = this.reasonCache.get(key);
    if (b === undefined) {
      const text = this.reasonText(id) || fallbackReason(kind);
      b = Buffer.from(text.slice(0, 255), 'latin1');
      if (this.reasonCache.size < 4096) this.reasonCache.set(key, b);
    }
    return b;
  }
}

const EMPTY = Buffer.alloc(0);
/** INT32 −1 as HAProxy sends negatives: the 10-byte varint of the 64-bit two's complement. */
const MINUS_ONE = Buffer.from('fff0fefefefefefefe0e', 'hex');

function writeMinusOne(dst: Buffer, w: number): number {
  MINUS_ONE.copy(dst, w);
  return w + MINUS_ONE.length;
}
