/**
 * The protobuf wire format of the few ext_authz v3 fields edgeban reads and writes, by hand.
 *
 * A CheckRequest is walked in place: nothing is decoded into objects, unknown fields (the
 * request path, body, metadata, …) are skipped by their length, and only the client's socket
 * address and, when forwarding headers are believed, `x-forwarded-for` / `x-real-ip` become
 * strings. Responses are written straight into one exactly sized buffer; the allow answers are
 * constants. The field numbers below are Envoy's (proto/envoy/…); `assertWireLayout` (layout.ts)
 * checks them against the loaded .proto at start.
 */

/** Wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Field numbers, Envoy's (see proto/). */
export const F = {
  CheckRequest: { attributes: 1 },
  AttributeContext: { source: 1, destination: 2, request: 4 },
  Peer: { address: 1 },
  Address: { socket_address: 1 },
  SocketAddress: { address: 2 },
  Request: { http: 2 },
  HttpRequest: { headers: 3, header_map: 13 },
  MapEntry: { key: 1, value: 2 },
  HeaderMap: { headers: 1 },
  HeaderValue: { key: 1, value: 2, raw_value: 3 },
  CheckResponse: { status: 1, denied_response: 2, ok_response: 3 },
  Status: { code: 1, message: 2 },
  DeniedHttpResponse: { status: 1, headers: 2, body: 3 },
  OkHttpResponse: { headers: 2 },
  HttpStatus: { code: 1 },
  HeaderValueOption: { header: 1 },
} as const;

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
  /** False when the bytes are not a well-formed protobuf message. */
  ok: boolean;
}

// --- reading -----------------------------------------------------------------------------------

/** Offset after the last varint read; set by `readVarint`. */
let next = 0;

/**
 * Varint at `p` (up to 2^53 exactly; longer ones are read for their length only). Returns -1
 * and leaves `next` undefined when it runs past `end` or is longer than 10 bytes.
 */
function readVarint(b: Uint8Array, p: number, end: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) return -1;
    const c = b[p++];
    v += (c & 0x7f) * mul;
    if (c < 0x80) {
      next = p;
      return v;
    }
    mul *= 128;
  }
  return -1;
}

/** Skip one field's value of wire type `wt` at `p`; the offset after it, or -1. */
function skip(b: Uint8Array, p: number, end: number, wt: number): number {
  switch (wt) {
    case VARINT:
      return readVarint(b, p, end) < 0 ? -1 : next;
    case I64:
      return p + 8 <= end ? p + 8 : -1;
    case I32:
      return p + 4 <= end ? p + 4 : -1;
    case LEN: {
      const n = readVarint(b, p, end);
      if (n < 0 || n > end - next) return -1;
      return next + n;
    }
    default:
      return -1; // groups (3, 4) are not used by ext_authz; 6 and 7 do not exist
  }
}

/** State of one decode (module scope: decoding is synchronous and never re-entered). */
let lenStart = 0;
let lenEnd = 0;

/**
 * Read the tag at `p`; for a LEN field also its bounds into lenStart/lenEnd. Returns the field
 * number * 8 + wire type, or -1 on malformed input; `next` is the offset after the value.
 */
function field(b: Uint8Array, p: number, end: number): number {
  const tag = readVarint(b, p, end);
  if (tag < 8 || tag > 0xffffffff) return -1; // field number 0, too large, or a broken varint
  const wt = tag & 7;
  if (wt === LEN) {
    const n = readVarint(b, next, end);
    if (n < 0 || n > end - next) return -1;
    lenStart = next;
    lenEnd = next + n;
    next = lenEnd;
    return tag;
  }
  const after = skip(b, next, end, wt);
  if (after < 0) return -1;
  next = after;
  return tag;
}

const T = (f: number, wt: number) => f * 8 + wt;

const XFF = asciiBytes('x-forwarded-for');
const XRI = asciiBytes('x-real-ip');

/**
 * Decode a CheckRequest into a fresh CheckInput. `wantHeaders` false skips the header maps
 * entirely (forwarding headers are not believed).
 */
export function decodeCheckRequest(b: Buffer, wantHeaders: boolean): CheckInput {
  const out: CheckInput = { source: null, xff: null, realIp: null, http: false, ok: true };
  out.ok = walkCheckRequest(b, 0, b.length, wantHeaders, out);
  return out;
}

function walkCheckRequest(b: Buffer, p: number, end: number, wantHeaders: boolean, out: CheckInput): boolean {
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    if (tag === T(F.CheckRequest.attributes, LEN)) {
      if (!walkAttributes(b, lenStart, lenEnd, wantHeaders, out)) return false;
    } else if (tag >>> 3 === F.CheckRequest.attributes) return false;
  }
  return true;
}

function walkAttributes(b: Buffer, p: number, end: number, wantHeaders: boolean, out: CheckInput): boolean {
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    const f = tag >>> 3;
    if (f === F.AttributeContext.source) {
      if ((tag & 7) !== LEN || !walkPeer(b, lenStart, lenEnd, out)) return false;
    } else if (f === F.AttributeContext.request) {
      if ((tag & 7) !== LEN || !walkRequest(b, lenStart, lenEnd, wantHeaders, out)) return false;
    }
    // destination (2) and everything else: skipped; the destination is Envoy's own listener
  }
  return true;
}

/** Peer → Address → SocketAddress → address (string). */
function walkPeer(b: Buffer, p: number, end: number, out: CheckInput): boolean {
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    if (tag >>> 3 !== F.Peer.address) continue;
    if ((tag & 7) !== LEN) return false;
    let q = lenStart;
    const qEnd = lenEnd;
    while (q < qEnd) {
      const t2 = field(b, q, qEnd);
      if (t2 < 0) return false;
      q = next;
      if (t2 >>> 3 !== F.Address.socket_address) continue;
      if ((t2 & 7) !== LEN) return false;
      let r = lenStart;
      const rEnd = lenEnd;
      while (r < rEnd) {
        const t3 = field(b, r, rEnd);
        if (t3 < 0) return false;
        r = next;
        if (t3 >>> 3 !== F.SocketAddress.address) continue;
        if ((t3 & 7) !== LEN) return false;
        out.source = b.toString('latin1', lenStart, lenEnd);
      }
    }
  }
  return true;
}

function walkRequest(b: Buffer, p: number, end: number, wantHeaders: boolean, out: CheckInput): boolean {
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    if (tag >>> 3 !== F.Request.http) continue;
    if ((tag & 7) !== LEN) return false;
    out.http = true;
    if (wantHeaders && !walkHttp(b, lenStart, lenEnd, out)) return false;
  }
  return true;
}

function walkHttp(b: Buffer, p: number, end: number, out: CheckInput): boolean {
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    const f = tag >>> 3;
    if (f === F.HttpRequest.headers) {
      // map<string, string> entry: key = 1, value = 2
      if ((tag & 7) !== LEN || !header(b, lenStart, lenEnd, out)) return false;
    } else if (f === F.HttpRequest.header_map) {
      if ((tag & 7) !== LEN) return false;
      let q = lenStart;
      const qEnd = lenEnd;
      while (q < qEnd) {
        const t2 = field(b, q, qEnd);
        if (t2 < 0) return false;
        q = next;
        if (t2 >>> 3 !== F.HeaderMap.headers) continue;
        if ((t2 & 7) !== LEN || !header(b, lenStart, lenEnd, out)) return false;
      }
    }
  }
  return true;
}

/**
 * One header (a map entry or a HeaderValue: key 1, value 2, raw_value 3). Only the two
 * forwarding headers become strings; other values are never decoded.
 */
function header(b: Buffer, p: number, end: number, out: CheckInput): boolean {
  let kS = -1;
  let kE = -1;
  let vS = -1;
  let vE = -1;
  while (p < end) {
    const tag = field(b, p, end);
    if (tag < 0) return false;
    p = next;
    const f = tag >>> 3;
    if (f === F.HeaderValue.key) {
      if ((tag & 7) !== LEN) return false;
      kS = lenStart;
      kE = lenEnd;
    } else if (f === F.HeaderValue.value || f === F.HeaderValue.raw_value) {
      if ((tag & 7) !== LEN) return false;
      // raw_value wins over an empty value (Envoy fills only one of them)
      if (vS < 0 || lenEnd > lenStart) {
        vS = lenStart;
        vE = lenEnd;
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

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

// --- writing -----------------------------------------------------------------------------------

function varintSize(n: number): number {
  let s = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

/** Bytes of a LEN field holding `n` bytes (tag of a field number < 16, length, payload). */
function lenField(n: number): number {
  return 1 + varintSize(n) + n;
}

class Writer {
  readonly buf: Buffer;
  p = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    while (n >= 128) {
      this.buf[this.p++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.p++] = n;
  }
  /** Tag and length of a LEN field whose payload follows. */
  open(f: number, n: number): void {
    this.buf[this.p++] = f * 8 + LEN;
    this.varint(n);
  }
  string(f: number, s: string, n: number): void {
    this.open(f, n);
    this.p += this.buf.write(s, this.p, n, 'utf8');
  }
}

/** A header for an ok/denied response, with its encoded sizes. */
interface SizedHeader {
  key: string;
  value: string;
  keyLen: number;
  valueLen: number;
  /** HeaderValue payload bytes. */
  hv: number;
  /** HeaderValueOption payload bytes. */
  hvo: number;
}

function sized(key: string, value: string): SizedHeader {
  const keyLen = Buffer.byteLength(key);
  const valueLen = Buffer.byteLength(value);
  const hv = lenField(keyLen) + lenField(valueLen);
  return { key, value, keyLen, valueLen, hv, hvo: lenField(hv) };
}

function writeHeaderOption(w: Writer, f: number, h: SizedHeader): void {
  w.open(f, h.hvo);
  w.open(F.HeaderValueOption.header, h.hv);
  w.string(F.HeaderValue.key, h.key, h.keyLen);
  w.string(F.HeaderValue.value, h.value, h.valueLen);
}

/**
 * CheckResponse{status: {code: 0}} with, when `headers` is given, an ok_response adding them to
 * the upstream request (append unset: Envoy sets the header, replacing one the client sent).
 */
export function encodeOk(headers: [string, string][] | null): Buffer {
  const hs = (headers ?? []).map(([k, v]) => sized(k, v));
  let ok = 0;
  for (const h of hs) ok += lenField(h.hvo);
  const size = lenField(0) + (headers ? lenField(ok) : 0);
  const w = new Writer(size);
  w.open(F.CheckResponse.status, 0);
  if (headers) {
    w.open(F.CheckResponse.ok_response, ok);
    for (const h of hs) writeHeaderOption(w, F.OkHttpResponse.headers, h);
  }
  return w.buf;
}

/** What a denial carries. `http` null: the network filter's Check (status only). */
export interface Denial {
  grpcCode: number;
  message: string;
  http: { status: number; headers: [string, string][]; body: string } | null;
}

/** CheckResponse{status: {code, message}, denied_response: {status, headers, body}}. */
export function encodeDenied(d: Denial): Buffer {
  const msgLen = Buffer.byteLength(d.message);
  const status = (d.grpcCode ? 1 + varintSize(d.grpcCode) : 0) + (msgLen ? lenField(msgLen) : 0);
  let size = lenField(status);
  let denied = 0;
  let httpStatus = 0;
  let hs: SizedHeader[] = [];
  let bodyLen = 0;
  if (d.http) {
    httpStatus = 1 + varintSize(d.http.status);
    hs = d.http.headers.map(([k, v]) => sized(k, v));
    bodyLen = Buffer.byteLength(d.http.body);
    denied = lenField(httpStatus) + (bodyLen ? lenField(bodyLen) : 0);
    for (const h of hs) denied += lenField(h.hvo);
    size += lenField(denied);
  }
  const w = new Writer(size);
  w.open(F.CheckResponse.status, status);
  if (d.grpcCode) {
    w.buf[w.p++] = F.Status.code * 8 + VARINT;
    w.varint(d.grpcCode);
  }
  if (msgLen) w.string(F.Status.message, d.message, msgLen);
  if (d.http) {
    w.open(F.CheckResponse.denied_response, denied);
    w.open(F.DeniedHttpResponse.status, httpStatus);
    w.buf[w.p++] = F.HttpStatus.code * 8 + VARINT;
    w.varint(d.http.status);
    for (const h of hs) writeHeaderOption(w, F.DeniedHttpResponse.headers, h);
    if (bodyLen) w.string(F.DeniedHttpResponse.body, d.http.body, bodyLen);
  }
  if (w.p !== size) throw new Error(`encodeDenied: wrote ${w.p} of ${size} bytes`);
  return w.buf;
}
