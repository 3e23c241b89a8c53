/**
 * One replayer thread: plays HAProxy's side of SPOP on `conns` connections, keeps `window`
 * NOTIFYs in flight on each, verifies every ACK (ids and the banned value) and records
 * latencies in a histogram. Works against any SPOP agent.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { addressBytes, isBanned, STORM_ADDRESSES } from './storm-addresses.js';

export interface StormWorkerParams {
  port: number;
  conns: number;
  window: number;
  ms: number;
  /** `stream`: refill on every ACK; `burst`: a whole window per write; `split`: every frame in two writes. */
  mode: 'stream' | 'burst' | 'split';
  bannedPercent: number;
  seed: number;
}

export interface StormWorkerResult {
  acks: number;
  errors: number;
  mismatches: number;
  hist: Uint32Array;
}

/** Latency histogram: 1 µs buckets below 1 ms, 10 µs buckets up to 100 ms, then overflow. */
export const HIST_SIZE = 1000 + 9900 + 1;
export function bucketOf(us: number): number {
  if (us < 1000) return us | 0;
  if (us < 100_000) return 1000 + (((us - 1000) / 10) | 0);
  return HIST_SIZE - 1;
}
export function bucketValue(b: number): number {
  return b < 1000 ? b : b < HIST_SIZE - 1 ? 1000 + (b - 1000) * 10 : 100_000;
}

function bare(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
}

const HELLO = (() => {
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

/** NOTIFY payloads per address (message check-client-ip, arg src). */
const PAYLOADS: Buffer[] = [];
for (let i = 0; i < STORM_ADDRESSES; i++) {
  const { bytes, family } = addressBytes(i);
  PAYLOADS.push(
    Buffer.concat([
      bare('check-client-ip'),
      Buffer.from([1]),
      bare('src'),
      Buffer.from([family === 4 ? 6 : 7]),
      bytes,
    ]),
  );
}

class StormConnection {
  private readonly sock: Socket;
  private readonly p: StormWorkerParams;
  private readonly res: StormWorkerResult;
  private readonly sent: Float64Array;
  private readonly expect: Uint8Array;
  private inbuf: Buffer = Buffer.alloc(0);
  private ready = false;
  private next: number;
  private outstanding = 0;
  stopped = false;

  constructor(p: StormWorkerParams, res: StormWorkerResult, start: number) {
    this.p = p;
    this.res = res;
    this.next = start;
    this.sent = new Float64Array(p.window + 1);
    this.expect = new Uint8Array(p.window + 1);
    this.sock = connect({ host: '127.0.0.1', port: p.port, noDelay: true });
    this.sock.on('connect', () => this.sock.write(HELLO));
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', () => {
      if (!this.stopped) res.errors++;
    });
    this.sock.on('close', () => {
      if (!this.stopped) res.errors++;
      this.stopped = true;
    });
  }

  private frame(slot: number): Buffer {
    const i = this.next;
    this.next = (this.next + 1) % STORM_ADDRESSES;
    this.expect[slot] = isBanned(i, this.p.bannedPercent) ? 1 : 0;
    const payload = PAYLOADS[i];
    const f = Buffer.allocUnsafe(4 + 7 + payload.length);
    f.writeUInt32BE(7 + payload.length, 0);
    f[4] = 3;
    f.writeUInt32BE(1, 5);
    f[9] = slot; // stream-id = slot (window < 240: one byte)
    f[10] = 1;
    payload.copy(f, 11);
    this.sent[slot] = performance.now();
    return f;
  }

  private send(slots: number[]): void {
    if (this.stopped || slots.length === 0) return;
    const frames = slots.map((s) => this.frame(s));
    this.outstanding += slots.length;
    if (this.p.mode === 'split') {
      for (const f of frames) {
        const cut = 1 + (f.length >> 1);
        this.sock.write(f.subarray(0, cut));
        this.sock.write(f.subarray(cut));
      }
    } else {
      this.sock.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    }
  }

  private onData(d: Buffer): void {
    this.inbuf = this.inbuf.length === 0 ? d : Buffer.concat([this.inbuf, d]);
    const refill: number[] = [];
    let p = 0;
    const now = performance.now();
    while (this.inbuf.length - p >= 4) {
      const len = this.inbuf.readUInt32BE(p);
      if (this.inbuf.length - p - 4 < len) break;
      const type = this.inbuf[p + 4];
      if (type === 0x65 && !this.ready) {
        this.ready = true;
        const all: number[] = [];
        for (let s = 1; s <= this.p.window; s++) all.push(s);
        p += 4 + len;
        this.send(all);
        continue;
      }
      if (type !== 0x67) {
        this.res.errors++;
        p += 4 + len;
        continue;
      }
      const slot = this.inbuf[p + 9];
      const value = this.inbuf[p + 4 + len - 1];
      if (slot < 1 || slot > this.p.window || this.sent[slot] === 0 || value !== this.expect[slot])
        this.res.mismatches++;
      else {
        this.res.acks++;
        this.res.hist[bucketOf((now - this.sent[slot]) * 1000)]++;
      }
      this.sent[slot] = 0;
      this.outstanding--;
      refill.push(slot);
      p += 4 + len;
    }
    this.inbuf = p === this.inbuf.length ? Buffer.alloc(0) : this.inbuf.subarray(p);
    if (this.p.mode === 'burst') {
      if (this.outstanding === 0) {
        const all: number[] = [];
        for (let s = 1; s <= this.p.window; s++) all.push(s);
        this.send(all);
      }
    } else {
      this.send(refill);
    }
  }

  stop(): void {
    this.stopped = true;
    this.sock.destroy();
  }
}

if (parentPort && workerData) {
  const p = workerData as StormWorkerParams;
  const res: StormWorkerResult = { acks: 0, errors: 0, mismatches: 0, hist: new Uint32Array(HIST_SIZE) };
  const conns: StormConnection[] = [];
  for (let c = 0; c < p.conns; c++)
    conns.push(new StormConnection(p, res, (p.seed * 7919 + c * 131) % STORM_ADDRESSES));
  setTimeout(() => {
    for (const c of conns) c.stop();
    parentPort?.postMessage(res);
  }, p.ms);
}
