import type { Counter } from 'prom-client';
import {
  type MatchResult,
  REC_ADDR,
  REC_FAMILY,
  REC_PATTERN,
  RECORD_SIZE,
} from '../../shared/patterns/protocol.js';
import type { BanRecord } from '../engine/types.js';
import type { Logger } from '../log/logger.js';
import type { SyslogStats } from '../syslog/stats.js';
import type { MatcherPool } from './pool.js';
import { LiveSessions } from './sessions.js';

/**
 * Where failures go: the ban engine (`BanEngineApi.recordFailure`). `addr` is reused for the
 * next failure: copy what you keep.
 */
export interface FailureSink {
  recordFailure(
    addr: Uint8Array,
    family: 4 | 6,
    pattern: string,
    timeMs: number,
    line?: string,
  ): BanRecord | null;
  /** The patterns in use (their severity and `success` flag), on every reload. */
  setPatterns?(patterns: readonly { name: string; severity?: number; success?: boolean }[]): void;
}

/** One failure as delivered (for replay summaries and tests). */
export interface MatchEvent {
  pattern: string;
  family: 4 | 6;
  addr: Uint8Array;
  timeMs: number;
  ban: BanRecord | null;
}

export interface PipelineOptions {
  pool: MatcherPool;
  sink: FailureSink | null;
  stats: SyslogStats;
  log: Logger;
  /** Batches waiting for a worker before new ones are shed (`syslog.max_queued_batches`). */
  maxQueued: number;
  /** Use each line's own timestamp (replay) instead of the receive time. */
  lineTime?: boolean;
  /** Raw chunks (replay): workers cut lines longer than this; 0 when receivers already did. */
  maxLen?: number;
  /** `fail2ban_pattern_matches_total{pattern,severity}`. */
  matchesCounter?: Counter<'pattern' | 'severity'>;
  /** Called for every delivered match, in line order. */
  onMatch?: (e: MatchEvent) => void;
}

/** Matches handed to the engine per event-loop turn (about 0.3 ms of engine work). */
const DELIVER_SLICE = 256;

interface Pending {
  buf: Uint8Array;
  count: number;
  timeMs: number;
  seq: number;
  /** Which patterns read these lines (MatcherPool.setRoutes); 0: syslog's. */
  route: number;
}

/**
 * Batches → matcher pool → engine. At most `threads × 2` batches are with the workers; up to
 * `maxQueued` more wait here; beyond that new batches are shed (counted, logged at most every
 * 10 s) so memory stays bounded when the pool falls behind. Results are delivered to the engine
 * in batch order, whatever order the workers finish in, so counting follows the log.
 */
export class IngestPipeline {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private seq = 0;
  private nextDeliver = 0;
  private readonly done = new Map<number, MatchResult | null>();
  /** Results in batch order whose matches are not all with the engine yet. */
  private readonly ready: MatchResult[] = [];
  /** Matches of `ready[0]` already delivered. */
  private cursor = 0;
  private pumpScheduled = false;
  /** Reused address bytes (4 or 16, as the family has) when no onMatch listener keeps them. */
  private readonly addr4 = new Uint8Array(4);
  private readonly addr16 = new Uint8Array(16);
  /** fail2ban sessions (`<F-MLFID>`) of the session patterns' matches. */
  private readonly sessions = new LiveSessions();
  private idleWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private readonly drainedListeners: (() => void)[] = [];
  private lastShedLog = 0;
  private shedSinceLog = 0;
  linesMatched = 0;
  linesProcessed = 0;

  constructor(private readonly o: PipelineOptions) {
    this.maxInFlight = Math.max(2, o.pool.threads * 2);
  }

  /** Batches with the workers or delivered only in part: what `maxInFlight` bounds. */
  private get busy(): number {
    return this.inFlight + this.ready.length;
  }

  /** Hands a batch over; returns false when it was shed. Never blocks. */
  readonly submit = (buf: Uint8Array, count: number, timeMs: number, route = 0): boolean => {
    if (this.busy < this.maxInFlight) {
      this.dispatch({ buf, count, timeMs, seq: this.seq++, route });
      return true;
    }
    if (this.queue.length < this.o.maxQueued) {
      this.queue.push({ buf, count, timeMs, seq: this.seq++, route });
      return true;
    }
    this.shed(count);
    return false;
  };

  /**
   * Queues a batch even above the limit: for flow-controlled sources (TCP), which pause while the
   * pipeline is congested, so the overshoot is bounded by one read per connection.
   */
  readonly submitFlowControlled = (buf: Uint8Array, count: number, timeMs: number, route = 0): boolean => {
    if (this.busy < this.maxInFlight) this.dispatch({ buf, count, timeMs, seq: this.seq++, route });
    else this.queue.push({ buf, count, timeMs, seq: this.seq++, route });
    return true;
  };

  /** Resolves at the next finished batch (replays use it to not read ahead of the workers). */
  whenRoom(): Promise<void> {
    return new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /** Resolves when every submitted batch has been delivered. */
  idle(): Promise<void> {
    if (this.nextDeliver === this.seq && this.ready.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Nothing with the workers and nothing queued. */
  get idleNow(): boolean {
    return this.inFlight === 0 && this.queue.length === 0;
  }

  /** Called each time the pipeline drains (batchers then send what they hold at once). */
  onDrained(fn: () => void): void {
    this.drainedListeners.push(fn);
  }

  /** Half the queue is used: flow-controlled senders (TCP) should pause. */
  get congested(): boolean {
    return this.queue.length >= Math.max(1, this.o.maxQueued >> 1);
  }

  get queued(): number {
    return this.queue.length;
  }

  private shed(lines: number): void {
    const st = this.o.stats;
    st.shedLines += lines;
    st.shedBatches++;
    this.shedSinceLog += lines;
    const now = Date.now();
    if (now - this.lastShedLog >= 10_000) {
      this.o.log.warn(
        { shed: this.shedSinceLog, shedTotal: st.shedLines, queued: this.queue.length },
        'matcher pool behind: syslog lines shed',
      );
      this.lastShedLog = now;
      this.shedSinceLog = 0;
    }
  }

  private dispatch(p: Pending): void {
    this.inFlight++;
    this.o.pool.run(p.buf, p.count, p.timeMs, this.o.lineTime === true, this.o.maxLen ?? 0, p.route).then(
      (r) => this.finish(p.seq, r),
      (err: unknown) => {
        this.o.log.error({ err }, 'matcher batch failed');
        this.finish(p.seq, null);
      },
    );
  }

  private finish(seq: number, r: MatchResult | null): void {
    this.inFlight--;
    this.done.set(seq, r);
    while (this.done.has(this.nextDeliver)) {
      const res = this.done.get(this.nextDeliver) ?? null;
      this.done.delete(this.nextDeliver);
      this.nextDeliver++;
      if (res !== null) this.ready.push(res);
    }
    // the first slice in this turn: a small batch is with the engine at once
    this.pump();
  }

  /**
   * Delivers at most DELIVER_SLICE matches, then yields the event loop (setImmediate) if more
   * wait: one large batch of matches never holds a lookup on this thread for long.
   */
  private readonly pump = (): void => {
    this.pumpScheduled = false;
    let budget = DELIVER_SLICE;
    while (this.ready.length > 0 && budget > 0) {
      const r = this.ready[0];
      if (this.cursor === 0) this.begin(r);
      const end = Math.min(r.matches, this.cursor + budget);
      this.deliverRange(r, this.cursor, end);
      budget -= end - this.cursor;
      this.cursor = end;
      if (this.cursor < r.matches) break;
      this.ready.shift();
      this.cursor = 0;
      this.end(r);
    }
    if (this.ready.length > 0 && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pump);
    }
    this.afterDelivery();
  };

  private afterDelivery(): void {
    while (this.busy < this.maxInFlight && this.queue.length > 0) this.dispatch(this.queue.shift()!);
    if (this.roomWaiters.length > 0) {
      const w = this.roomWaiters;
      this.roomWaiters = [];
      for (const f of w) f();
    }
    if (this.inFlight === 0 && this.queue.length === 0) for (const f of this.drainedListeners) f();
    if (this.nextDeliver === this.seq && this.ready.length === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** A result's totals and per-pattern counts, once, before its first match goes out. */
  private begin(r: MatchResult): void {
    const o = this.o;
    o.stats.parseFailures += r.parseFailures;
    o.stats.truncated += r.truncated;
    this.linesProcessed += r.lines;
    // a session's line counts when it is decided a failure (deliverRange)
    let undecided = 0;
    if (r.sessions !== undefined) for (const x of r.sessions) if (x !== '') undecided++;
    this.linesMatched += r.matches - undecided;
    const v = o.pool.versionInfo(r.version);
    if (v === undefined) return;
    const pats = v.set.patterns;
    if (o.matchesCounter) {
      for (let i = 0; i < r.perPattern.length; i++) {
        if (r.perPattern[i] > 0) {
          o.matchesCounter.inc(
            { pattern: pats[i].name, severity: String(pats[i].severity) },
            r.perPattern[i],
          );
        }
      }
    }
  }

  /** Matches [from, to) of a result to the engine, in line order. */
  private deliverRange(r: MatchResult, from: number, to: number): void {
    const o = this.o;
    const v = o.pool.versionInfo(r.version);
    if (v === undefined) return; // a version long gone: nothing to name the matches with
    const pats = v.set.patterns;
    const rec = r.records;
    const times = new Float64Array(rec.buffer, rec.byteOffset, (r.matches * RECORD_SIZE) / 8);
    const texts = r.texts;
    const sessions = r.sessions;
    const keep = o.onMatch !== undefined;
    for (let k = from; k < to; k++) {
      const off = k * RECORD_SIZE;
      const id = rec[off + REC_PATTERN] | (rec[off + REC_PATTERN + 1] << 8);
      const name = pats[id]?.name ?? `#${id}`;
      let family = rec[off + REC_FAMILY] as 0 | 4 | 6;
      let src = rec;
      let at = off + REC_ADDR;
      if (sessions !== undefined && sessions[k] !== '') {
        // a session's line: a failure only with what the session's earlier lines said
        if (!this.sessions.resolve(name, sessions[k], family, rec, at)) continue;
        family = this.sessions.family;
        src = this.sessions.addr;
        at = 0;
        this.linesMatched++;
        const p = pats[id];
        if (o.matchesCounter && p !== undefined)
          o.matchesCounter.inc({ pattern: p.name, severity: String(p.severity) });
      }
      if (family === 0) continue;
      const n = family === 4 ? 4 : 16;
      // the engine copies the bytes it keeps; only a listener that may keep them gets its own
      const addr = keep ? src.slice(at, at + n) : family === 4 ? this.addr4 : this.addr16;
      if (!keep) for (let i = 0; i < n; i++) addr[i] = src[at + i];
      const timeMs = times[k * 4 + 3];
      let ban: BanRecord | null = null;
      if (o.sink !== null) {
        try {
          ban = o.sink.recordFailure(addr, family, name, timeMs, texts?.[k]);
        } catch (err) {
          o.log.error({ err, pattern: name }, 'ban engine refused a failure');
        }
      }
      if (o.onMatch) o.onMatch({ pattern: name, family, addr, timeMs, ban });
    }
  }

  /** After a result's last match: its patterns that ran too long are quarantined. */
  private end(r: MatchResult): void {
    const o = this.o;
    const v = o.pool.versionInfo(r.version);
    if (v === undefined) return;
    const pats = v.set.patterns;
    // quarantine only against the set that was measured; a reload in between starts afresh
    if (r.slow.length > 0 && o.pool.current.version === v.version) {
      for (const id of r.slow) {
        const name = pats[id]?.name ?? `#${id}`;
        o.pool.quarantine(
          id,
          `used more than half of the batch time budget (batch of ${r.lines} lines took ${Math.round(r.elapsedMs)} ms)`,
        );
        o.stats.quarantined++;
        o.log.error(
          { pattern: name, elapsedMs: Math.round(r.elapsedMs), lines: r.lines },
          'pattern quarantined: it used most of a batch time budget even with the linear-time regexp fallback',
        );
      }
    }
  }
}
