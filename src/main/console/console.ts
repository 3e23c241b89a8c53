import type { Registry } from 'prom-client';
import type { BanEngine } from '../engine/index.js';
import { rates, readTotals, type Totals } from './collect.js';
import { type ConsoleEvent, RecentBans } from './recent.js';
import { SampleRing, SERIES, type SeriesName } from './samples.js';

const SAMPLE_MS = 1000;

/** What a live stream is sent: a sample each second and each ban or unban as it happens. */
export type LiveMessage =
  | { type: 'sample'; t: number; row: Record<SeriesName, number> }
  | { type: 'ban' | 'unban'; event: ConsoleEvent };

/**
 * The console's memory: one sample per second of the process's own counters for the last hour,
 * the last hour's bans, and the live streams listening. It runs whether or not a page is open,
 * so the charts have their hour when someone looks; its cost is a few metric reads per second.
 */
export class Console {
  readonly samples = new SampleRing();
  readonly recent = new RecentBans();
  /** Matches per pattern over the last minute, from the newest two readings a minute apart. */
  patternRates = new Map<string, number>();
  private readonly listeners = new Set<(m: LiveMessage) => void>();
  /** How to end each live stream when the process stops (a stream would hold the shutdown). */
  private readonly enders = new Map<(m: LiveMessage) => void, () => void>();
  private timer: NodeJS.Timeout | null = null;
  private prev: { at: number; totals: Totals } | null = null;
  private minuteAgo: { at: number; patterns: Map<string, number> } | null = null;
  private readonly row = new Float64Array(SERIES.length);
  private offEngine: (() => void) | null = null;
  private sampling = false;

  constructor(
    private readonly registry: Registry,
    private readonly engine: BanEngine,
  ) {}

  start(): void {
    if (this.timer) return;
    this.offEngine = this.engine.onEvent((e) => {
      const v = RecentBans.view(e);
      if (v === null) return;
      const ev = this.recent.add(v);
      this.publish({ type: ev.type, event: ev });
    });
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offEngine?.();
    this.offEngine = null;
    for (const end of this.enders.values()) end();
    this.enders.clear();
    this.listeners.clear();
  }

  get liveCount(): number {
    return this.listeners.size;
  }

  listen(l: (m: LiveMessage) => void, end: () => void): () => void {
    this.listeners.add(l);
    this.enders.set(l, end);
    return () => {
      this.listeners.delete(l);
      this.enders.delete(l);
    };
  }

  private publish(m: LiveMessage): void {
    for (const l of this.listeners) l(m);
  }

  /** One reading; rates need two, so the first sample is the second reading. */
  async sample(now = Date.now()): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const totals = await readTotals(this.registry);
      if (this.prev !== null) {
        rates(this.prev.totals, totals, now - this.prev.at, this.row);
        this.samples.push(now, this.row);
        const last = this.samples.last();
        if (last) this.publish({ type: 'sample', t: last.t, row: last.row });
      }
      this.prev = { at: now, totals };
      if (this.minuteAgo === null) this.minuteAgo = { at: now, patterns: totals.patterns };
      else if (now - this.minuteAgo.at >= 60_000) {
        const dt = (now - this.minuteAgo.at) / 1000;
        const r = new Map<string, number>();
        for (const [p, n] of totals.patterns)
          r.set(p, Math.max(0, n - (this.minuteAgo.patterns.get(p) ?? 0)) / dt);
        this.patternRates = r;
        this.minuteAgo = { at: now, patterns: totals.patterns };
        this.recent.expire(now);
      }
    } finally {
      this.sampling = false;
    }
  }
}
