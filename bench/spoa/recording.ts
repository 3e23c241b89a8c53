/**
 * Record a real HAProxy ↔ agent session and replay it: the relay sits between HAProxy and any
 * SPOP agent, forwards both ways and keeps what HAProxy sent (per connection, with times).
 * `replay` plays those bytes to an agent at 1×, N× or full speed (speed 0) and counts the
 * answers: every HELLO must get an AGENT-HELLO, every NOTIFY an ACK with its ids.
 *
 *   node dist/bench/spoa/recording.js record LISTEN_PORT AGENT_PORT FILE
 *   node dist/bench/spoa/recording.js replay FILE AGENT_PORT [SPEED]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { pack, unpack } from 'msgpackr';

export interface RecordedChunk {
  /** Connection number in order of arrival. */
  c: number;
  /** Milliseconds since the recording started. */
  t: number;
  /** Bytes HAProxy sent. */
  b: Uint8Array;
}

export interface Recording {
  version: 1;
  chunks: RecordedChunk[];
}

/** Start a relay on 127.0.0.1:listenPort to the agent; `stop()` returns the recording. */
export function startRelay(
  listenPort: number,
  agentPort: number,
): Promise<{ server: Server; stop(): Promise<Recording> }> {
  const chunks: RecordedChunk[] = [];
  const t0 = performance.now();
  let conns = 0;
  const server = createServer((down) => {
    const c = conns++;
    const up = connect({ host: '127.0.0.1', port: agentPort, noDelay: true });
    down.setNoDelay(true);
    down.on('data', (d: Buffer) => {
      chunks.push({ c, t: performance.now() - t0, b: Buffer.from(d) });
      up.write(d);
    });
    up.on('data', (d: Buffer) => down.write(d));
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('close', close);
    up.on('close', close);
    down.on('error', close);
    up.on('error', close);
  });
  return new Promise((resolve) =>
    server.listen(listenPort, '127.0.0.1', () =>
      resolve({
        server,
        stop: () => new Promise((r) => server.close(() => r({ version: 1, chunks }))),
      }),
    ),
  );
}

export interface ReplayResult {
  connections: number;
  hellos: number;
  notifies: number;
  agentHellos: number;
  acks: number;
  /** ACKs whose stream-id/frame-id matched no NOTIFY sent on that connection. */
  unmatched: number;
  ms: number;
}

/** Frames of type `type` in a byte stream, as their raw sid/fid id bytes. */
function framesOf(buf: Uint8Array): { type: number; ids: string }[] {
  const out: { type: number; ids: string }[] = [];
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  while (b.length - p >= 4) {
    const len = b.readUInt32BE(p);
    if (b.length - p - 4 < len) break;
    const f = b.subarray(p + 4, p + 4 + len);
    let q = 5;
    for (let k = 0; k < 2; k++) {
      if (f[q++] >= 240) while (f[q++] >= 128);
    }
    out.push({ type: f[0], ids: f.subarray(5, q).toString('hex') });
    p += 4 + len;
  }
  return out;
}

/** Replay a recording to an agent; speed 1 = recorded pace, N = N× faster, 0 = as fast as possible. */
export async function replay(rec: Recording, agentPort: number, speed = 1): Promise<ReplayResult> {
  const byConn = new Map<number, RecordedChunk[]>();
  for (const ch of rec.chunks) byConn.set(ch.c, [...(byConn.get(ch.c) ?? []), ch]);
  const res: ReplayResult = {
    connections: byConn.size,
    hellos: 0,
    notifies: 0,
    agentHellos: 0,
    acks: 0,
    unmatched: 0,
    ms: 0,
  };
  const t0 = performance.now();
  await Promise.all(
    [...byConn.values()].map(
      (chunks) =>
        new Promise<void>((resolve) => {
          const sent = framesOf(Buffer.concat(chunks.map((c) => c.b)));
          const pending = new Set(sent.filter((f) => f.type === 3).map((f) => f.ids));
          res.hellos += sent.filter((f) => f.type === 1).length;
          res.notifies += pending.size;
          const expectHello = sent.some((f) => f.type === 1);
          let got = Buffer.alloc(0);
          let helloSeen = false;
          const s = connect({ host: '127.0.0.1', port: agentPort, noDelay: true });
          const finish = () => {
            s.destroy();
            resolve();
          };
          const timer = setTimeout(
            finish,
            5000 + (speed > 0 ? (chunks[chunks.length - 1].t - chunks[0].t) / speed : 0),
          );
          s.on('data', (d: Buffer) => {
            got = Buffer.concat([got, d]);
            const frames = framesOf(got); // small streams: re-parse from the start
            if (!helloSeen && frames.some((f) => f.type === 0x65)) {
              helloSeen = true;
              res.agentHellos++;
            }
            for (const f of frames) if (f.type === 0x67 && pending.delete(f.ids)) res.acks++;
            if (pending.size === 0 && (helloSeen || !expectHello)) {
              clearTimeout(timer);
              finish();
            }
          });
          s.on('error', finish);
          s.on('close', () => {
            clearTimeout(timer);
            resolve();
          });
          s.on('connect', () => {
            const base = chunks[0].t;
            for (const ch of chunks) {
              const delay = speed > 0 ? (ch.t - base) / speed : 0;
              if (delay <= 0) s.write(ch.b);
              else setTimeout(() => s.writable && s.write(ch.b), delay);
            }
          });
        }),
    ),
  );
  res.unmatched = res.notifies - res.acks;
  res.ms = performance.now() - t0;
  return res;
}

export function saveRecording(path: string, rec: Recording): void {
  writeFileSync(path, pack(rec));
}

export function loadRecording(path: string): Recording {
  const rec = unpack(readFileSync(path)) as Recording;
  if (rec.version !== 1 || !Array.isArray(rec.chunks)) throw new Error(`${path}: not an SPOP recording`);
  return rec;
}

if (process.argv[1]?.endsWith('recording.js')) {
  const [cmd, a, b, c, d] = process.argv.slice(2);
  if (cmd === 'record') {
    const relay = await startRelay(Number(a), Number(b));
    console.error(`relaying 127.0.0.1:${a} → 127.0.0.1:${b}; Ctrl-C writes ${c}`);
    process.on('SIGINT', () =>
      relay
        .stop()
        .then((rec) => saveRecording(c, rec))
        .then(() => process.exit(0)),
    );
  } else if (cmd === 'replay') {
    console.log(JSON.stringify(await replay(loadRecording(a), Number(b), Number(c ?? d ?? 1)), null, 2));
  } else {
    console.error('usage: recording.js record LISTEN_PORT AGENT_PORT FILE | replay FILE AGENT_PORT [SPEED]');
    process.exitCode = 2;
  }
}
