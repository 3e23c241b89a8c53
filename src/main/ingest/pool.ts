import { Piscina } from 'piscina';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import type { MatchResult, MatchTask, PatternSetPayload } from '../../shared/patterns/protocol.js';
import { enableLinearRegexpEngine } from '../../shared/patterns/regexp-engine.js';
import { PatternSet } from '../../shared/patterns/set.js';
import { workerCount } from '../system/cpus.js';

const WORKER_URL = new URL('../../workers/matcher.js', import.meta.url);

/** One pattern-set version as the main thread knows it: compiled (names, severities) and serialised. */
/** A pattern the run-time ReDoS guard took out, kept until its regex changes or an operator lifts it. */
export interface Quarantine {
  regex: string;
  /** Unix ms. */
  since: number;
  reason: string;
}

/** A worker without a batch for this long ends; the next batch starts one again. */
const WORKER_IDLE_MS = 60_000;
/** Young generation of a matcher worker, MB (V8's default grows to 32). */
const WORKER_YOUNG_MB = 4;

/** Quarantine entries kept (patterns come from the operator; the bound is a safety net). */
const QUARANTINE_MAX = 1024;

export interface PatternVersion {
  version: number;
  set: PatternSet;
  json: string;
  skip: number[];
}

/**
 * The worker pool with versioned pattern sets. `setPatterns` validates (compiles) the set here
 * first, so a bad pattern is refused with its name before any worker sees it; every task carries
 * its version and workers compile each version once. Batches in flight keep the version they
 * were sent with, so results always resolve against the right names.
 */
export class MatcherPool {
  private readonly pool: Piscina<MatchTask, MatchResult>;
  private readonly versions = new Map<number, PatternVersion>();
  private nextVersion = 1;
  current!: PatternVersion;
  readonly threads: number;
  /**
   * Quarantined patterns by name. Every new set (reload, API change) skips the ones whose regex
   * is unchanged, so a reload never lets a pattern that stalled the workers run again.
   */
  readonly quarantined = new Map<string, Quarantine>();
  /** Which patterns read which lines (PatternSetPayload.routes); one route = every pattern everywhere. */
  private routes: string[][] = [];

  constructor(opts: { threads?: number; patterns: readonly PatternSpec[] }) {
    enableLinearRegexpEngine();
    // `workers.count`, or the CPUs the process may really use (cgroup quota, affinity) when 0
    this.threads = workerCount(opts.threads ?? 0);
    this.setPatterns(opts.patterns);
    this.pool = new Piscina<MatchTask, MatchResult>({
      filename: WORKER_URL.href,
      // started with the first batch and ended after a minute without one: an isolate is ~10 MB
      // that a process no log line reaches yet (or any more) need not hold
      minThreads: 0,
      maxThreads: this.threads,
      idleTimeout: WORKER_IDLE_MS,
      // a burst of lines would grow each worker's young generation to 32 MB, kept after it
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      // the pipeline bounds what it queues; piscina's own queue stays small
      maxQueue: this.threads * 4,
      // its run- and wait-time histograms (~360 KB each) are read by nothing here
      recordTiming: false,
    });
  }

  /**
   * Compiles and activates a new pattern set; throws PatternError (naming the pattern) if one is
   * bad. Quarantined patterns stay skipped while their regex is the same; a changed regex lifts
   * the quarantine.
   */
  setPatterns(specs: readonly PatternSpec[]): PatternVersion {
    const set = new PatternSet(this.nextVersion, specs);
    const skip: number[] = [];
    for (const p of set.patterns) {
      const q = this.quarantined.get(p.name);
      if (q === undefined) continue;
      const spec = specs.find((s) => s.name === p.name);
      if (spec !== undefined && spec.regex === q.regex) skip.push(p.id);
      else this.quarantined.delete(p.name);
    }
    return this.activate(set, specs, skip);
  }

  private activate(set: PatternSet, specs: readonly PatternSpec[], skip: number[]): PatternVersion {
    const version = this.nextVersion++;
    const payload: PatternSetPayload = {
      version,
      specs: [...specs],
      skip,
      ...(this.routes.length > 1 ? { routes: this.routes } : {}),
    };
    const v: PatternVersion = { version, set, json: JSON.stringify(payload), skip };
    this.versions.set(version, v);
    this.current = v;
    // keep older versions a little for batches in flight
    for (const k of this.versions.keys()) if (k < version - 4) this.versions.delete(k);
    return v;
  }

  /**
   * Which patterns read which lines: `routes[r]` names the patterns a batch of route r runs (route
   * 0: syslog and the files no jail reads). A change re-issues the current set.
   */
  setRoutes(routes: readonly (readonly string[])[]): void {
    const next = routes.map((r) => [...r]);
    if (JSON.stringify(next) === JSON.stringify(this.routes)) return;
    this.routes = next;
    // the same patterns: the compiled set is the current one's (a recompile on the main thread
    // held the event loop on every jail change)
    const payload = JSON.parse(this.current.json) as PatternSetPayload;
    this.activate(this.current.set, payload.specs, this.current.skip);
  }

  /** Re-issues the current set with pattern `id` skipped (run-time ReDoS guard). */
  quarantine(id: number, reason = 'used most of a batch time budget'): PatternVersion {
    const cur = this.current;
    if (cur.skip.includes(id)) return cur;
    const p = cur.set.patterns[id];
    const payload = JSON.parse(cur.json) as PatternSetPayload;
    const spec = payload.specs.find((s) => s.name === p?.name);
    if (p !== undefined && spec !== undefined) {
      if (this.quarantined.size >= QUARANTINE_MAX) {
        const oldest = this.quarantined.keys().next().value;
        if (oldest !== undefined) this.quarantined.delete(oldest);
      }
      this.quarantined.set(p.name, { regex: spec.regex, since: Date.now(), reason });
    }
    return this.activate(new PatternSet(this.nextVersion, payload.specs), payload.specs, [...cur.skip, id]);
  }

  /** An operator lifts a quarantine: the pattern runs again from the next batch. False if none. */
  lift(name: string): boolean {
    if (!this.quarantined.delete(name)) return false;
    const payload = JSON.parse(this.current.json) as PatternSetPayload;
    this.setPatterns(payload.specs);
    return true;
  }

  versionInfo(version: number): PatternVersion | undefined {
    return this.versions.get(version);
  }

  run(
    buf: Uint8Array,
    count: number,
    timeMs: number,
    lineTime: boolean,
    maxLen = 0,
    route = 0,
  ): Promise<MatchResult> {
    const v = this.current;
    const task: MatchTask = {
      route,
      version: v.version,
      patterns: v.json,
      buf,
      count,
      timeMs,
      lineTime,
      maxLen,
      // ~50 µs a line is 100× the normal cost; replays do not count lines, assume full chunks
      budgetMs: Math.max(50, (count > 0 ? count : buf.length / 100) * 0.05),
    };
    const ab = buf.buffer as ArrayBuffer;
    return this.pool.run(task, { transferList: [ab] });
  }

  /** Matcher workers running now (0 until the first batch, and again after a minute without one). */
  get running(): number {
    return this.pool.threads.length;
  }

  get queueSize(): number {
    return this.pool.queueSize;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
