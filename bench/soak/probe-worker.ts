/**
 * The soak's lookup probe, in a thread of its own so its clock is not the main thread's: one
 * SPOP connection asks about a banned address, then about one that is not, every `everyMs`,
 * one NOTIFY in flight at a time, checks each answer and posts a window summary every
 * `windowMs`. A NOTIFY unanswered for 2 s counts as lost and the connection is replaced.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { ACK, AGENT_HELLO, checkPayload, HELLO, notifyFrame, splitFrames } from '../spoa/frames.js';
import { bucketOf, HIST_SIZE, percentileOf } from '../spoa/histogram.js';

export interface ProbeParams {
  port: number;
  banned: { bytes: Uint8Array; family: 4 | 6 };
  clean: { bytes: Uint8Array; family: 4 | 6 };
  everyMs: number;
  windowMs: number;
  ms: number;
}

export interface ProbeWindow {
  /** Seconds since the probe started, at the window's end. */
  t: number;
  count: number;
  p50: number;
  p99: number;
  maxUs: number;
  /** Answers that said banned for the clean address or not banned for the banned one. */
  wrong: number;
  /** NOTIFYs unanswered after 2 s, and connections that failed. */
  lost: number;
}

const LOST_AFTER_MS = 2000;

class Probe {
  private sock: Socket | null = null;
  private ready = false;
  private inbuf: Buffer = Buffer.alloc(0);
  /** 0 idle, 1 waiting for the banned answer, 2 for the clean one. */
  private asking = 0;
  private sentAt = 0;
  private frameId = 1;
  private readonly hist = new Uint32Array(HIST_SIZE);
  private count = 0;
  private maxUs = 0;
  private wrong = 0;
  private lost = 0;
  private readonly bannedPayload: Buffer;
  private readonly cleanPayload: Buffer;
  stopped = false;

  constructor(private readonly p: ProbeParams) {
    this.bannedPayload = checkPayload(p.banned.bytes, p.banned.family);
    this.cleanPayload = checkPayload(p.clean.bytes, p.clean.family);
    this.open();
  }

  private open(): void {
    this.ready = false;
    this.asking = 0;
    this.inbuf = Buffer.alloc(0);
    const s = connect({ host: '127.0.0.1', port: this.p.port, noDelay: true });
    this.sock = s;
    s.on('connect', () => s.write(HELLO));
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('error', () => {});
    s.on('close', () => {
      if (this.stopped || this.sock !== s) return;
      this.lost++;
      this.sock = null;
      setTimeout(() => {
        if (!this.stopped) this.open();
      }, 100);
    });
  }

  private ask(which: 1 | 2): void {
    this.asking = which;
    this.frameId = (this.frameId % 120) + 1;
    this.sentAt = performance.now();
    this.sock?.write(notifyFrame(which, this.frameId, which === 1 ? this.bannedPayload : this.cleanPayload));
  }

  tick(): void {
    if (this.stopped || this.sock === null || !this.ready) return;
    if (this.asking !== 0) {
      if (performance.now() - this.sentAt > LOST_AFTER_MS) {
        this.lost++;
        const s = this.sock;
        this.sock = null;
        s.destroy();
        this.open();
      }
      return;
    }
    this.ask(1);
  }

  private onData(d: Buffer): void {
    this.inbuf = splitFrames(this.inbuf, d, (buf, start, len) => {
      const type = buf[start];
      if (type === AGENT_HELLO) this.ready = true;
      else if (type === ACK && this.asking !== 0) {
        const us = (performance.now() - this.sentAt) * 1000;
        this.hist[bucketOf(us)]++;
        this.count++;
        if (us > this.maxUs) this.maxUs = us;
        const value = buf[start + len - 1];
        const was = this.asking;
        if (value !== (was === 1 ? 1 : 0) || buf[start + 5] !== was) this.wrong++;
        this.asking = 0;
        if (was === 1) this.ask(2);
      } else this.wrong++;
    });
  }

  /** Answers since the last window. */
  get pending(): number {
    return this.count;
  }

  window(t: number): ProbeWindow {
    const w: ProbeWindow = {
      t,
      count: this.count,
      p50: percentileOf(this.hist, this.count, 0.5),
      p99: percentileOf(this.hist, this.count, 0.99),
      maxUs: Math.round(this.maxUs),
      wrong: this.wrong,
      lost: this.lost,
    };
    this.hist.fill(0);
    this.count = 0;
    this.maxUs = 0;
    this.wrong = 0;
    this.lost = 0;
    return w;
  }

  stop(): void {
    this.stopped = true;
    this.sock?.destroy();
  }
}

if (parentPort && workerData) {
  const p = workerData as ProbeParams;
  const probe = new Probe(p);
  const t0 = performance.now();
  const ticker = setInterval(() => probe.tick(), p.everyMs);
  const windows = setInterval(
    () => parentPort?.postMessage(probe.window(Math.round((performance.now() - t0) / 1000))),
    p.windowMs,
  );
  setTimeout(() => {
    clearInterval(ticker);
    clearInterval(windows);
    probe.stop();
    // the last window, when the run's end did not fall on a window's
    if (probe.pending > 0) parentPort?.postMessage(probe.window(Math.round((performance.now() - t0) / 1000)));
    parentPort?.postMessage('done');
  }, p.ms);
}
