import { SERVICE_ANY, type ServiceNames } from '../../shared/bantable/index.js';
import { F, I32, I64, LEN, VARINT } from './wire.js';

/**
 * A CheckRequest walked in place (see wire.ts): nothing is decoded into objects, unknown fields
 * (the request path, body, metadata, …) are skipped by their length, and only the client's
 * socket address and, when forwarding headers are believed, `x-forwarded-for` / `x-real-ip`
 * become strings. The `service` context extension is resolved to a service id straight from
 * the bytes.
 */

/** What a Check is about, as read from its bytes. */
export interface CheckInput {
  /** attributes.source.address.socket_address.address (null when absent). */
  source: string | null;
  /** Every `x-forwarded-for` value, in order, joined with commas (only when headers were read). */
  xff: string | null;
  /** `x-real-ip` (only when headers were read). */
  realIp: string | null;
  /** attributes.request.http was present (the HTTP filter; the network filter has none). */
  http: boolean;
  /**
   * The service id named by attributes.context_extensions["service"] (the last entry with that
   * key, as protobuf maps go); SERVICE_ANY when there is none, SERVICE_UNSCOPED for a name no
   * jail scopes.
   */
  service: number;
  /** False when the bytes are not a well-formed protobuf message. */
  ok: boolean;
}

const T = (f: number, wt: number) => f * 8 + wt;

const XFF = asciiBytes('x-forwarded-for');
const XRI = asciiBytes('x-real-ip');
const SERVICE_KEY = asciiBytes('service');

/**
 * CheckRequest bytes → CheckInput. The decoder holds the read position between its steps:
 * `next` after each varint or field, and the bounds of the last LEN field. One decoder per server, reused for every Check (decoding is synchronous and never
 * re-entered), so reading allocates nothing but the CheckInput and the strings it keeps.
 */
export class CheckDecoder {
  /** Offset after the last varint or field read. */
  private next = 0;
  /** Bounds of the last LEN field's value. */
  private lenStart = 0;
  private lenEnd = 0;

  /** `services`: where the `service` context extension resolves (null: every ban counts). */
  constructor(private readonly services: ServiceNames | null = null) {}

  /**
   * Decode a CheckRequest into a fresh CheckInput. `wantHeaders` false skips the header maps
   * entirely (forwarding headers are not believed).
   */
  decode(b: Buffer, wantHeaders: boolean): CheckInput {
    const out: CheckInput = {
      source: null,
      xff: null,
      realIp: null,
      http: false,
      service: SERVICE_ANY,
      ok: true,
    };
    out.ok = this.walkCheckRequest(b, 0, b.length, wantHeaders, out);
    return out;
  }

  /**
   * Varint at `p` (up to 2^53 exactly; longer ones are read for their length only). Returns -1
   * and leaves `next` undefined when it runs past `end` or is longer than 10 bytes.
   */
  private readVarint(b: Uint8Array, p: number, end: number): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) return -1;
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) {
        this.next = p;
        return v;
      }
      mul *= 128;
    }
    return -1;
  }

  /** Skip one field's value of wire type `wt` at `p`; the offset after it, or -1. */
  private skip(b: Uint8Array, p: number, end: number, wt: number): number {
    switch (wt) {
      case VARINT:
        return this.readVarint(b, p, end) < 0 ? -1 : this.next;
      case I64:
        return p + 8 <= end ? p + 8 : -1;
      case I32:
        return p + 4 <= end ? p + 4 : -1;
      case LEN: {
        const n = this.readVarint(b, p, end);
        if (n < 0 || n > end - this.next) return -1;
        return this.next + n;
      }
      default:
        return -1; // groups (3, 4) are not used by ext_authz; 6 and 7 do not exist
    }
  }

  /**
   * Read the tag at `p`; for a LEN field also its bounds into lenStart/lenEnd. Returns the field
   * number * 8 + wire type, or -1 on malformed input; `next` is the offset after the value.
   */
  private field(b: Uint8Array, p: number, end: number): number {
    const tag = this.readVarint(b, p, end);
    if (tag < 8 || tag > 0xffffffff) return -1; // field number 0, too large, or a broken varint
    const wt = tag & 7;
    if (wt === LEN) {
      const n = this.readVarint(b, this.next, end);
      if (n < 0 || n > end - this.next) return -1;
      this.lenStart = this.next;
      this.lenEnd = this.next + n;
      this.next = this.lenEnd;
      return tag;
    }
    const after = this.skip(b, this.next, end, wt);
    if (after < 0) return -1;
    this.next = after;
    return tag;
  }

  private walkCheckRequest(
    b: Buffer,
    p: number,
    end: number,
    wantHeaders: boolean,
    out: CheckInput,
  ): boolean {
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      if (tag === T(F.CheckRequest.attributes, LEN)) {
        if (!this.walkAttributes(b, this.lenStart, this.lenEnd, wantHeaders, out)) return false;
      } else if (tag >>> 3 === F.CheckRequest.attributes) return false;
    }
    return true;
  }

  private walkAttributes(b: Buffer, p: number, end: number, wantHeaders: boolean, out: CheckInput): boolean {
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      const f = tag >>> 3;
      if (f === F.AttributeContext.source) {
        if ((tag & 7) !== LEN || !this.walkPeer(b, this.lenStart, this.lenEnd, out)) return false;
      } else if (f === F.AttributeContext.request) {
        if ((tag & 7) !== LEN || !this.walkRequest(b, this.lenStart, this.lenEnd, wantHeaders, out))
          return false;
      } else if (f === F.AttributeContext.context_extensions) {
        if ((tag & 7) !== LEN || !this.extension(b, this.lenStart, this.lenEnd, out)) return false;
      }
      // destination (2) and everything else: skipped; the destination is Envoy's own listener
    }
    return true;
  }

  /** Peer → Address → SocketAddress → address (string). */
  private walkPeer(b: Buffer, p: number, end: number, out: CheckInput): boolean {
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      if (tag >>> 3 !== F.Peer.address) continue;
      if ((tag & 7) !== LEN) return false;
      let q = this.lenStart;
      const qEnd = this.lenEnd;
      while (q < qEnd) {
        const t2 = this.field(b, q, qEnd);
        if (t2 < 0) return false;
        q = this.next;
        if (t2 >>> 3 !== F.Address.socket_address) continue;
        if ((t2 & 7) !== LEN) return false;
        let r = this.lenStart;
        const rEnd = this.lenEnd;
        while (r < rEnd) {
          const t3 = this.field(b, r, rEnd);
          if (t3 < 0) return false;
          r = this.next;
          if (t3 >>> 3 !== F.SocketAddress.address) continue;
          if ((t3 & 7) !== LEN) return false;
          out.source = b.toString('latin1', this.lenStart, this.lenEnd);
        }
      }
    }
    return true;
  }

  private walkRequest(b: Buffer, p: number, end: number, wantHeaders: boolean, out: CheckInput): boolean {
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      if (tag >>> 3 !== F.Request.http) continue;
      if ((tag & 7) !== LEN) return false;
      out.http = true;
      if (wantHeaders && !this.walkHttp(b, this.lenStart, this.lenEnd, out)) return false;
    }
    return true;
  }

  private walkHttp(b: Buffer, p: number, end: number, out: CheckInput): boolean {
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      const f = tag >>> 3;
      if (f === F.HttpRequest.headers) {
        // map<string, string> entry: key = 1, value = 2
        if ((tag & 7) !== LEN || !this.header(b, this.lenStart, this.lenEnd, out)) return false;
      } else if (f === F.HttpRequest.header_map) {
        if ((tag & 7) !== LEN) return false;
        let q = this.lenStart;
        const qEnd = this.lenEnd;
        while (q < qEnd) {
          const t2 = this.field(b, q, qEnd);
          if (t2 < 0) return false;
          q = this.next;
          if (t2 >>> 3 !== F.HeaderMap.headers) continue;
          if ((t2 & 7) !== LEN || !this.header(b, this.lenStart, this.lenEnd, out)) return false;
        }
      }
    }
    return true;
  }

  /** One context_extensions entry (key 1, value 2): only the `service` key is read. */
  private extension(b: Buffer, p: number, end: number, out: CheckInput): boolean {
    let kS = -1;
    let kE = -1;
    let vS = -1;
    let vE = -1;
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      const f = tag >>> 3;
      if (f !== F.MapEntry.key && f !== F.MapEntry.value) continue;
      if ((tag & 7) !== LEN) return false;
      if (f === F.MapEntry.key) {
        kS = this.lenStart;
        kE = this.lenEnd;
      } else {
        vS = this.lenStart;
        vE = this.lenEnd;
      }
    }
    // keys are case-sensitive in protobuf; `service` is the one Envoy's config writes
    if (kS < 0 || !bytesAre(b, kS, kE, SERVICE_KEY)) return true;
    // a missing value is the empty string: the entry names no service
    out.service = vS < 0 || this.services === null ? SERVICE_ANY : this.services.lookupBytes(b, vS, vE - vS);
    return true;
  }

  /**
   * One header (a map entry or a HeaderValue: key 1, value 2, raw_value 3). Only the two
   * forwarding headers become strings; other values are never decoded.
   */
  private header(b: Buffer, p: number, end: number, out: CheckInput): boolean {
    let kS = -1;
    let kE = -1;
    let vS = -1;
    let vE = -1;
    while (p < end) {
      const tag = this.field(b, p, end);
      if (tag < 0) return false;
      p = this.next;
      const f = tag >>> 3;
      if (f === F.HeaderValue.key) {
        if ((tag & 7) !== LEN) return false;
        kS = this.lenStart;
        kE = this.lenEnd;
      } else if (f === F.HeaderValue.value || f === F.HeaderValue.raw_value) {
        if ((tag & 7) !== LEN) return false;
        // raw_value wins over an empty value (Envoy fills only one of them)
        if (vS < 0 || this.lenEnd > this.lenStart) {
          vS = this.lenStart;
          vE = this.lenEnd;
        }
      }
    }
    if (kS < 0 || vS < 0) return true;
    if (keyIs(b, kS, kE, XFF)) {
      const v = b.toString('latin1', vS, vE);
      out.xff = out.xff === null ? v : `${out.xff},${v}`;
    } else if (keyIs(b, kS, kE, XRI)) {
      out.realIp = b.toString('latin1', vS, vE);
    }
    return true;
  }
}

/** ASCII case-insensitive comparison of b[s, e) with a lower-case name. */
function keyIs(b: Uint8Array, s: number, e: number, name: Uint8Array): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = b[s + i];
    if (c >= 65 && c <= 90) c += 32;
    if (c !== name[i]) return false;
  }
  return true;
}

/** Exact comparison of b[s, e) with `name`. */
function bytesAre(b: Uint8Array, s: number, e: number, name: Uint8Array): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[s + i] !== name[i]) return false;
  return true;
}

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
