import { DataType } from './protocol.js';
import { encodeVarint, VarintReader } from './varint.js';

/** A decoded typed value (HELLO/DISCONNECT KV lists; not the NOTIFY hot path). */
export type TypedValue = null | boolean | number | bigint | string | Uint8Array | { ip: Uint8Array };

/**
 * Skip or read one typed value at `p`; returns the offset after it, or -1 when it is malformed
 * or runs past `end` (an unknown type's size cannot be known, so it is malformed too).
 */
export function skipTyped(buf: Uint8Array, p: number, end: number, varint: VarintReader): number {
  if (p >= end) return -1;
  const type = buf[p] & 0x0f;
  p++;
  switch (type) {
    case DataType.NULL:
    case DataType.BOOL:
      return p;
    case DataType.INT32:
    case DataType.UINT32:
    case DataType.INT64:
    case DataType.UINT64:
      return varint.decode(buf, p, end) ? varint.next : -1;
    case DataType.IPV4:
      return p + 4 <= end ? p + 4 : -1;
    case DataType.IPV6:
      return p + 16 <= end ? p + 16 : -1;
    case DataType.STRING:
    case DataType.BINARY: {
      if (!varint.decode(buf, p, end)) return -1;
      const n = varint.value;
      return n <= end - varint.next ? varint.next + n : -1;
    }
    default:
      return -1;
  }
}

function readTyped(
  buf: Uint8Array,
  p: number,
  end: number,
  varint: VarintReader,
): [TypedValue, number] | null {
  const next = skipTyped(buf, p, end, varint);
  if (next < 0) return null;
  const t = buf[p];
  switch (t & 0x0f) {
    case DataType.NULL:
      return [null, next];
    case DataType.BOOL:
      return [(t & 0x10) !== 0, next];
    case DataType.INT32:
    case DataType.INT64: {
      varint.decode(buf, p + 1, end);
      const v = varint.big ?? BigInt(varint.value);
      const signed = BigInt.asIntN(64, v);
      return [
        signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(signed)
          : signed,
        next,
      ];
    }
    case DataType.UINT32:
    case DataType.UINT64:
      varint.decode(buf, p + 1, end);
      return [varint.big ?? varint.value, next];
    case DataType.IPV4:
    case DataType.IPV6:
      return [{ ip: buf.slice(p + 1, next) }, next];
    case DataType.STRING: {
      varint.decode(buf, p + 1, end);
      return [
        Buffer.from(buf.buffer, buf.byteOffset + varint.next, next - varint.next).toString('latin1'),
        next,
      ];
    }
    default: {
      varint.decode(buf, p + 1, end);
      return [buf.slice(varint.next, next), next];
    }
  }
}

/** Decode a KV-LIST spanning [p, end). Returns null when malformed. */
export function decodeKvList(buf: Uint8Array, p: number, end: number): Map<string, TypedValue> | null {
  const out = new Map<string, TypedValue>();
  // HELLO and DISCONNECT only (once per connection): a reader of its own per list
  const varint = new VarintReader();
  while (p < end) {
    if (!varint.decode(buf, p, end)) return null;
    const n = varint.value;
    const kStart = varint.next;
    if (n > end - kStart) return null;
    const key = Buffer.from(buf.buffer, buf.byteOffset + kStart, n).toString('latin1');
    const r = readTyped(buf, kStart + n, end, varint);
    if (r === null) return null;
    out.set(key, r[0]);
    p = r[1];
  }
  return out;
}

/** Append a bare string (varint length + bytes). */
export function putBareString(buf: Uint8Array, off: number, s: string): number {
  const b = Buffer.from(s, 'latin1');
  off = encodeVarint(buf, off, b.length);
  buf.set(b, off);
  return off + b.length;
}

/** Append a typed STRING (type byte exactly 0x08: HAProxy reads any flag bit as BINARY). */
export function putString(buf: Uint8Array, off: number, s: string): number {
  buf[off++] = DataType.STRING;
  return putBareString(buf, off, s);
}

export function putUint32(buf: Uint8Array, off: number, v: number): number {
  buf[off++] = DataType.UINT32;
  return encodeVarint(buf, off, v);
}
