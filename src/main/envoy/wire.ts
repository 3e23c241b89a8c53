/**
 * The protobuf wire format of the few ext_authz v3 fields edgeban reads and writes, by hand.
 *
 * A CheckRequest is walked in place: nothing is decoded into objects, unknown fields (the
 * request path, body, metadata, …) are skipped by their length, and only the client's socket
 * address and, when forwarding headers are believed, `x-forwarded-for` / `x-real-ip` become
 * strings. Responses are written straight into one exactly sized buffer; the allow answers are
 * constants. The field numbers below are Envoy's (proto/envoy/…); `assertWireLayout` (layout.ts)
 * checks them against the loaded .proto at start. Reading is check-decoder.ts.
 */

/** Wire types. */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** Field numbers, Envoy's (see proto/). */
export const F = {
  CheckRequest: { attributes: 1 },
  AttributeContext: { source: 1, destination: 2, request: 4, context_extensions: 10 },
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
