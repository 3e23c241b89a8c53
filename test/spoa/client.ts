import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';

/**
 * A raw SPOP peer for codec tests: sends bytes exactly as given and collects the agent's frames.
 * Frames are built by hand here (not with the agent's encoder) so an encoder bug cannot hide.
 */
export function frame(
  type: number,
  flags: number,
  sid: number[],
  fid: number[],
  payload: number[] | Buffer,
): Buffer {
  const body = Buffer.concat([
    Buffer.from([type]),
    u32(flags),
    Buffer.from(sid),
    Buffer.from(fid),
    Buffer.from(payload),
  ]);
  return Buffer.concat([u32(body.length), body]);
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export function bare(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length >= 240) throw new Error('test helper: short strings only');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

export function str(s: string): Buffer {
  return Buffer.concat([Buffer.from([0x08]), bare(s)]);
}

/** A HELLO with custom key/values (already encoded typed values). */
export function hello(entries: [string, Buffer][], sid = 0, fid = 0): Buffer {
  return frame(1, 1, [sid], [fid], Buffer.concat(entries.flatMap(([k, v]) => [bare(k), v])));
}

/** HAProxy 2.6.12's data-connection HELLO (spop.md §11): 133 bytes on the wire. */
export function hello26(): Buffer {
  return hello([
    ['supported-versions', str('2.0')],
    ['max-frame-size', Buffer.from([0x03, 0xfc, 0xf0, 0x06])],
    ['capabilities', str('pipelining,async')],
    ['engine-id', str('7ddb37bd-f99b-4dfc-aca9-e600704483b1')],
  ]);
}

/** The health-check HELLO (spop.md §4.2): 82 bytes, capabilities "", healthcheck true. */
export function helloCheck(): Buffer {
  return hello([
    ['supported-versions', str('2.0')],
    ['max-frame-size', Buffer.from([0x03, 0xfc, 0xf0, 0x06])],
    ['capabilities', str('')],
    ['healthcheck', Buffer.from([0x11])],
  ]);
}

export const STD_HELLO: [string, Buffer][] = [
  ['supported-versions', str('2.0')],
  ['max-frame-size', Buffer.from([0x03, 0xfc, 0xf0, 0x06])],
  ['capabilities', str('pipelining')],
];

/** NOTIFY carrying one message `name` with (argName, typedValueBytes) args. */
export function notify(sid: number, fid: number, messages: [string, [string, Buffer][]][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, args] of messages) {
    parts.push(bare(name), Buffer.from([args.length]));
    for (const [an, av] of args) parts.push(bare(an), av);
  }
  return frame(3, 1, varintBytes(sid), varintBytes(fid), Buffer.concat(parts));
}

export function ipv4(a: string): Buffer {
  return Buffer.from([0x06, ...a.split('.').map(Number)]);
}

export function varintBytes(v: number): number[] {
  if (v < 240) return [v];
  const out = [(v & 0xff) | 0xf0];
  v = (v - 240) >> 4;
  while (v >= 128) {
    out.push((v & 0xff) | 0x80);
    v = (v - 128) >> 7;
  }
  out.push(v);
  return out;
}

export interface AgentFrame {
  type: number;
  flags: number;
  idBytes: Buffer;
  payload: Buffer;
  raw: Buffer;
}

/** Connection to the agent that splits what it receives into frames. */
export class RawPeer {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  readonly frames: AgentFrame[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4) {
        const len = this.buf.readUInt32BE(0);
        if (this.buf.length < 4 + len) break;
        const raw = this.buf.subarray(0, 4 + len);
        const f = raw.subarray(4);
        // sid and fid: single-byte varints in these tests unless ≥ 240
        let p = 5;
        for (let k = 0; k < 2; k++) {
          if (f[p] < 240) p++;
          else {
            p++;
            while (f[p] >= 128) p++;
            p++;
          }
        }
        this.frames.push({
          type: f[0],
          flags: f.readUInt32BE(1),
          idBytes: Buffer.from(f.subarray(5, p)),
          payload: Buffer.from(f.subarray(p)),
          raw: Buffer.from(raw),
        });
        this.buf = this.buf.subarray(4 + len);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static open(port: number, localAddress?: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  /** Wait until `n` frames arrived (or the connection closed); throws after `ms`. */
  async waitFrames(n: number, ms = 3000): Promise<AgentFrame[]> {
    const end = Date.now() + ms;
    while (this.frames.length < n && !this.closed) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} frames (got ${this.frames.length})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.frames;
  }

  async waitClosed(ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > end) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Decode status-code from an AGENT-DISCONNECT payload (UINT32 varint after the key). */
export function disconnectStatus(payload: Buffer): number {
  const key = bare('status-code');
  const at = payload.indexOf(key);
  if (at < 0) throw new Error('no status-code');
  const p = at + key.length;
  if (payload[p] !== 0x03) throw new Error('status-code not UINT32');
  const v = payload[p + 1];
  return v < 240 ? v : -1;
}

/** A peer past its HELLO: the agent answered AGENT-HELLO. */
export async function readyPeer(port: number, from?: string): Promise<RawPeer> {
  const p = await RawPeer.open(port, from);
  p.send(hello26());
  const [f] = await p.waitFrames(1);
  assert.equal(f.type, 0x65, 'AGENT-HELLO');
  return p;
}

/** A HAProxy-like exchange: HELLO, one NOTIFY, its ACK within 2 s. */
export async function servedOnce(port: number, from?: string): Promise<void> {
  const p = await readyPeer(port, from);
  p.send(notify(9, 1, [['check-client-ip', [['src', ipv4('127.0.0.9')]]]]));
  const f = await p.waitFrames(2, 2000);
  assert.equal(f[1]?.type, 0x67, 'ACK');
  p.close();
}
