/**
 * One replayer thread: plays HAProxy's side of SPOP on `conns` connections, keeps `window`
 * NOTIFYs in flight on each, verifies every ACK (ids and the banned value) and records
 * latencies in a histogram. Works against any SPOP agent.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { checkPayload, HELLO } from './frames.js';
import { bucketOf, HIST_SIZE } from './histogram.js';
import { addressBytes, isBanned, STORM_ADDRESSES } from './storm-addresses.js';

// the storm's callers read the histogram through this module
export { bucketOf, bucketValue, HIST_SIZE } from './histogram.js';

export interface StormWorkerParams {
  port: number;
  conns: number;
  window: number;
  ms: number;
  /** `stream`: refill on every ACK; `burst`: a whole window per write; `split`: every frame in two writes. */
  mode: 'stream' | 'burst' | 'split';
  bannedPercent: number;
  seed: number;
  /** NOTIFY/s for this thread's connections together; 0 or absent: as fast as the ACKs come. */
  rate?: number;
}

export interface StormWorkerResult {
  acks: number;
  errors: number;
  mismatches: number;
  hist: Uint32Array;
}

/** NOTIFY payloads per address (message check-client-ip, arg src). */
const PAYLOADS: Buffer[] = [];
for (let i = 0; i < STORM_ADDRESSES; i++) {
  const { bytes, family } = addressBytes(i);
  PAYLOADS.push(checkPayload(bytes, family));
}

/**
 * NOTIFYs/s shared by a thread's connections when `rate` is set: what the budget does not allow
 * yet waits in each connection's queue until the next 1 ms tick.
 */
class Pace {
  private t0 = performance.now();
  private sent = 0;
  constructor(readonly rate: number) {}
  /** How many of `want` may go now. */
  take(want: number): number {
    const now = performance.now();
    let budget = Math.floor(((now - this.t0) * this.rate) / 1000) - this.sent;
    // after a stall, no catch-up burst beyond 50 ms worth
    const cap = Math.max(1, Math.ceil(this.rate / 20));
    if (budget > cap) {
      this.t0 = now - (cap * 1000) / this.rate;
      this.sent = 0;
      budget = cap;
    }
    const n = Math.max(0, Math.min(want, budget));
    this.sent += n;
    return n;
  }
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
  private readonly pace: Pace | null;
  /** Slots the pace holds back, sent on a later tick. */
  private waiting: number[] = [];
  stopped = false;

  constructor(p: StormWorkerParams, res: StormWorkerResult, start: number, pace: Pace | null) {
    this.p = p;
    this.pace = pace;
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

  /** Sends what the pace allows of the waiting slots (called every tick when paced). */
  flush(): void {
    if (this.waiting.length === 0 || this.stopped) return;
    const slots = this.waiting;
    this.waiting = [];
    this.send(slots);
  }

  private send(slots: number[]): void {
    if (this.stopped || slots.length === 0) return;
    if (this.pace !== null) {
      const n = this.pace.take(slots.length);
      if (n < slots.length) {
        for (let k = n; k < slots.length; k++) this.waiting.push(slots[k]);
        slots = slots.slice(0, n);
        if (n === 0) return;
      }
    }
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
  const pace = p.rate ? new Pace(p.rate) : null;
  for (let c = 0; c < p.conns; c++)
    conns.push(new StormConnection(p, res, (p.seed * 7919 + c * 131) % STORM_ADDRESSES, pace));
  const tick = pace
    ? setInterval(() => {
        for (const c of conns) c.flush();
      }, 1)
    : null;
  setTimeout(() => {
    if (tick) clearInterval(tick);
    for (const c of conns) c.stop();
    parentPort?.postMessage(res);
  }, p.ms);
}
