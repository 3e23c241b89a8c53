import type { Logger } from './logger.js';

type Level = 'warn' | 'info' | 'error';

interface Slot {
  /** When the current window opened (ms). */
  since: number;
  /** Lines not written in this window. */
  suppressed: number;
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

export interface LogThrottleOptions {
  /** One line per key per window; the rest are counted. */
  windowMs?: number;
  /** Distinct keys kept; past it, a kind's sources share one key (an attacker can vary sources). */
  maxKeys?: number;
  now?: () => number;
}

/**
 * Rate-limited logging for lines an outsider can trigger (bad frames, failed logins, refused
 * peers): per kind and source, the first line of a window is written, the rest are counted, and
 * the count goes out with the next line of that key, or with a summary when the window ends.
 * Memory is bounded by `maxKeys` whatever the number of sources.
 */
export class LogThrottle {
  private readonly slots = new Map<string, Slot>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = Number.NEGATIVE_INFINITY;
  /** Lines suppressed since start, for tests and metrics. */
  suppressedTotal = 0;

  constructor(
    private readonly log: Logger,
    opts: LogThrottleOptions = {},
  ) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxKeys = opts.maxKeys ?? 1024;
    this.now = opts.now ?? Date.now;
  }

  warn(kind: string, source: string, fields: Record<string, unknown>, msg: string): void {
    this.write('warn', kind, source, fields, msg);
  }

  info(kind: string, source: string, fields: Record<string, unknown>, msg: string): void {
    this.write('info', kind, source, fields, msg);
  }

  error(kind: string, source: string, fields: Record<string, unknown>, msg: string): void {
    this.write('error', kind, source, fields, msg);
  }

  /** Write the summaries of windows that have ended (called by a timer; tests call it directly). */
  flush(): void {
    const now = this.now();
    for (const [key, s] of this.slots) {
      if (now - s.since < this.windowMs) continue;
      if (s.suppressed > 0)
        this.log[s.level]({ ...s.fields, suppressed: s.suppressed }, `${s.msg} (repeated)`);
      this.slots.delete(key);
    }
    if (this.slots.size === 0) this.stopTimer();
  }

  /** Write pending summaries now and stop the timer (process stop). */
  close(): void {
    for (const s of this.slots.values())
      if (s.suppressed > 0)
        this.log[s.level]({ ...s.fields, suppressed: s.suppressed }, `${s.msg} (repeated)`);
    this.slots.clear();
    this.stopTimer();
  }

  private write(
    level: Level,
    kind: string,
    source: string,
    fields: Record<string, unknown>,
    msg: string,
  ): void {
    const now = this.now();
    let key = `${kind}\u0000${source}`;
    let s = this.slots.get(key);
    if (s === undefined && this.slots.size >= this.maxKeys) {
      // a full map is swept at most once a second: a flood of new sources costs O(1) each
      if (now - this.lastFlush >= 1000) {
        this.lastFlush = now;
        this.flush();
      }
      if (this.slots.size >= this.maxKeys) {
        key = `${kind}\u0000*`;
        s = this.slots.get(key);
      }
    }
    if (s !== undefined && now - s.since < this.windowMs) {
      s.suppressed++;
      s.fields = fields;
      this.suppressedTotal++;
      return;
    }
    const suppressed = s?.suppressed ?? 0;
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
    this.slots.set(key, { since: now, suppressed: 0, level, msg, fields });
    this.startTimer();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), Math.max(1000, Math.floor(this.windowMs / 2)));
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
