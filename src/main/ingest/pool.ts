import { Piscina } from 'piscina';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import type { MatchResult, MatchTask, PatternSetPayload } from '../../shared/patterns/protocol.js';
import { enableLinearRegexpEngine } from '../../shared/patterns/regexp-engine.js';
import { PatternSet } from '../../shared/patterns/set.js';
import { workerCount } from '../system/cpus.js';

const WORKER_URL = new URL('../../workers/matcher.js', import.meta.url);

/** One pattern-set version as the main thread knows it: compiled (names, severities) and serialised. */
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

  constructor(opts: { threads?: number; patterns: readonly PatternSpec[] }) {
    enableLinearRegexpEngine();
    // `workers.count`, or the CPUs the process may really use (cgroup quota, affinity) when 0
    this.threads = workerCount(opts.threads ?? 0);
    this.setPatterns(opts.patterns);
    this.pool = new Piscina<MatchTask, MatchResult>({
      filename: WORKER_URL.href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
      // the pipeline bounds what it queues; piscina's own queue stays small
      maxQueue: this.threads * 4,
    });
  }

  /** Compiles and activates a new pattern set; throws PatternError (naming the pattern) if one is bad. */
  setPatterns(specs: readonly PatternSpec[], skip: number[] = []): PatternVersion {
    const version = this.nextVersion++;
    const set = new PatternSet(version, specs);
    const payload: PatternSetPayload = { version, specs: [...specs], skip };
    const v: PatternVersion = { version, set, json: JSON.stringify(payload), skip };
    this.versions.set(version, v);
    this.current = v;
    // keep older versions a little for batches in flight
    for (const k of this.versions.keys()) if (k < version - 4) this.versions.delete(k);
    return v;
  }

  /** Re-issues the current set with pattern `id` skipped (run-time ReDoS guard). */
  quarantine(id: number): PatternVersion {
    const cur = this.current;
    if (cur.skip.includes(id)) return cur;
    const payload = JSON.parse(cur.json) as PatternSetPayload;
    return this.setPatterns(payload.specs, [...cur.skip, id]);
  }

  versionInfo(version: number): PatternVersion | undefined {
    return this.versions.get(version);
  }

  run(buf: Uint8Array, count: number, timeMs: number, lineTime: boolean, maxLen = 0): Promise<MatchResult> {
    const v = this.current;
    const task: MatchTask = {
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

  get queueSize(): number {
    return this.pool.queueSize;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
