/** HAProxy's side of SPOP, the few frames the replayer and the soak's probe send. */

export function bare(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
}

/** HAPROXY-HELLO: SPOP 2.0, pipelining, 256 KiB frames. */
export const HELLO = (() => {
  const kv = Buffer.concat([
    bare('supported-versions'),
    Buffer.from([0x08, 3]),
    Buffer.from('2.0'),
    bare('max-frame-size'),
    Buffer.from([0x03, 0xfc, 0xf0, 0x06]),
    bare('capabilities'),
    Buffer.from([0x08, 10]),
    Buffer.from('pipelining'),
    bare('engine-id'),
    Buffer.from([0x08, 8]),
    Buffer.from('stormrun'),
  ]);
  const body = Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 0]), kv]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
})();

/** NOTIFY payload: message check-client-ip, one arg `src` (IPv4 or IPv6 typed data). */
export function checkPayload(bytes: Uint8Array, family: 4 | 6): Buffer {
  return Buffer.concat([
    bare('check-client-ip'),
    Buffer.from([1]),
    bare('src'),
    Buffer.from([family === 4 ? 6 : 7]),
    bytes,
  ]);
}

/** A NOTIFY frame, stream-id and frame-id below 128 (one varint byte each). */
export function notifyFrame(streamId: number, frameId: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(4 + 7 + payload.length);
  f.writeUInt32BE(7 + payload.length, 0);
  f[4] = 3;
  f.writeUInt32BE(1, 5);
  f[9] = streamId;
  f[10] = frameId;
  payload.copy(f, 11);
  return f;
}

/** Frame types the agent sends. */
export const AGENT_HELLO = 0x65;
export const ACK = 0x67;

/**
 * Appends `d` to `pending` and hands each complete frame to `onFrame` (the buffer and the offset
 * and length of the frame after its 4-byte length: the type is `buf[start]`); returns the bytes
 * of an incomplete frame, kept for the next read.
 */
export function splitFrames(
  pending: Buffer,
  d: Buffer,
  onFrame: (buf: Buffer, start: number, len: number) => void,
): Buffer {
  const buf = pending.length === 0 ? d : Buffer.concat([pending, d]);
  let p = 0;
  while (buf.length - p >= 4) {
    const len = buf.readUInt32BE(p);
    if (buf.length - p - 4 < len) break;
    onFrame(buf, p + 4, len);
    p += 4 + len;
  }
  return p === buf.length ? Buffer.alloc(0) : buf.subarray(p);
}
