import { putBareString, putString, putUint32 } from './kvlist.js';
import { FLAG_FIN, FrameType, STATUS_TEXT } from './protocol.js';

/** Write the 4-byte length and the header of a frame with sid = fid = 0; returns the payload offset. */
function header(buf: Buffer, type: number): number {
  buf[4] = type;
  buf.writeUInt32BE(FLAG_FIN, 5);
  buf[9] = 0;
  buf[10] = 0;
  return 11;
}

function seal(buf: Buffer, end: number): Buffer {
  buf.writeUInt32BE(end - 4, 0);
  return buf.subarray(0, end);
}

/** AGENT-HELLO with the three keys every HAProxy version (and the 3.1+ health check) requires. */
export function encodeAgentHello(maxFrameSize: number, capabilities: string): Buffer {
  const buf = Buffer.alloc(128 + capabilities.length);
  let p = header(buf, FrameType.AGENT_HELLO);
  p = putBareString(buf, p, 'version');
  p = putString(buf, p, '2.0');
  p = putBareString(buf, p, 'max-frame-size');
  p = putUint32(buf, p, maxFrameSize);
  p = putBareString(buf, p, 'capabilities');
  p = putString(buf, p, capabilities);
  return seal(buf, p);
}

/** AGENT-DISCONNECT; the message is kept ≤ 255 bytes (2.6 and the 3.x health check reject longer). */
export function encodeAgentDisconnect(status: number, message?: string): Buffer {
  const text = (message ?? STATUS_TEXT[status] ?? 'error').slice(0, 255);
  const buf = Buffer.alloc(64 + text.length);
  let p = header(buf, FrameType.AGENT_DISCONNECT);
  p = putBareString(buf, p, 'status-code');
  p = putUint32(buf, p, status);
  p = putBareString(buf, p, 'message');
  p = putString(buf, p, text);
  return seal(buf, p);
}
