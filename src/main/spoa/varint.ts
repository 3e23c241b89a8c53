/**
 * SPOP varints (HAProxy's "peers encoding"): unsigned 64-bit values, 1 to 10 bytes.
 * Values below 2^53 stay in `number` arithmetic; BigInt is used only past that.
 */

/**
 * Decodes varints and holds the result of the last one: the value and the position after it.
 * Each connection and each answerer owns one and reuses it, so
 * decoding allocates nothing and no state is shared between decoders.
 */
export class VarintReader {
  /** Decoded value (exact below 2^53; see `big`). */
  value = 0;
  /** Offset just past the varint. */
  next = 0;
  /** Set (non-null) only when the value needs more than 53 bits. */
  big: bigint | null = null;

  /**
   * Decode the varint at `buf[off]`, reading no further than `end`. Returns false when it is
   * truncated (no terminating byte before `end`), longer than 10 bytes or above 2^64−1.
   */
  decode(buf: Uint8Array, off: number, end: number): boolean {
    if (off >= end) return false;
    let v = buf[off++];
    this.big = null;
    if (v < 240) {
      this.value = v;
      this.next = off;
      return true;
    }
    // HAProxy adds each byte whole (continuation bit included) at shifts 4, 11, 18, …
    let shift = 4;
    for (let n = 1; n < 10; n++) {
      if (off >= end) return false;
      const b = buf[off++];
      if (shift > 39) return this.decodeBig(buf, off, end, v, b, shift, n); // past 2^53: exact in BigInt only
      v += b * 2 ** shift;
      shift += 7;
      if (b < 128) {
        this.value = v;
        this.next = off;
        return true;
      }
    }
    return false;
  }

  private decodeBig(
    buf: Uint8Array,
    off: number,
    end: number,
    acc: number,
    first: number,
    shift: number,
    n: number,
  ): boolean {
    let v = BigInt(acc) + (BigInt(first) << BigInt(shift));
    let b = first;
    while (b >= 128) {
      if (++n >= 10 || off >= end) return false;
      shift += 7;
      b = buf[off++];
      v += BigInt(b) << BigInt(shift);
    }
    if (v > 0xffffffffffffffffn) return false;
    this.next = off;
    this.value = Number(v);
    this.big = v <= BigInt(Number.MAX_SAFE_INTEGER) ? null : v;
    return true;
  }
}

/** Bytes needed for `v` (a safe integer ≥ 0, or a bigint ≤ 2^64−1). */
export function varintLength(v: number | bigint): number {
  let x = BigInt(v);
  if (x < 240n) return 1;
  x = (x - 240n) >> 4n;
  let n = 2;
  while (x >= 128n) {
    x = (x - 128n) >> 7n;
    n++;
  }
  return n;
}

/** Encode `v` at `buf[off]`; returns the offset past it. Numbers must be safe integers ≥ 0. */
export function encodeVarint(buf: Uint8Array, off: number, v: number): number {
  if (v < 240) {
    buf[off] = v;
    return off + 1;
  }
  buf[off++] = (v % 16) | 0xf0;
  v = Math.floor((v - 240) / 16);
  while (v >= 128) {
    buf[off++] = (v % 128) | 0x80;
    v = Math.floor((v - 128) / 128);
  }
  buf[off++] = v;
  return off;
}

/** BigInt encoder for values beyond 2^53 (INT64 negatives as two's complement, UINT64). */
export function encodeVarintBig(buf: Uint8Array, off: number, value: bigint): number {
  let v = BigInt.asUintN(64, value);
  if (v < 240n) {
    buf[off] = Number(v);
    return off + 1;
  }
  buf[off++] = Number(v & 0xffn) | 0xf0;
  v = (v - 240n) >> 4n;
  while (v >= 128n) {
    buf[off++] = Number(v & 0xffn) | 0x80;
    v = (v - 128n) >> 7n;
  }
  buf[off++] = Number(v);
  return off;
}
