import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { formatIp } from '../../shared/ip/parse.js';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import { type BanRecord, DEFAULT_JAIL } from '../engine/types.js';
import { type FailureSink, IngestPipeline } from '../ingest/pipeline.js';
import { MatcherPool } from '../ingest/pool.js';
import type { Logger } from '../log/logger.js';
import { SyslogStats } from '../syslog/stats.js';

export interface ReplayOptions {
  /** Files to read; `-` is stdin. */
  files: string[];
  patterns: readonly PatternSpec[];
  /** The engine that decides bans (a fresh one with its own table), or null to only match. */
  engine: FailureSink | null;
  threads?: number;
  maxLineLength?: number;
  /** Reference time for year-less (RFC 3164) timestamps; default now. */
  refTimeMs?: number;
  log: Logger;
  /** Called about 5× a second with bytes read so far and the total (0 when unknown, e.g. stdin). */
  onProgress?: (p: { bytes: number; totalBytes: number; lines: number }) => void;
  stdin?: Readable;
}

export interface PatternSummary {
  name: string;
  severity: number;
  description: string;
  matched: number;
}

export interface BanSummary {
  target: string;
  pattern: string | null;
  /** Time of the deciding line (unix ms). */
  at: number;
  expiresAt: number | null;
  durationMs: number | null;
  offences: number;
  /** The jail whose policy made it (`default`: the `ban:` policy). */
  jail: string;
  /** Services it covers; empty = every service. */
  services: string[];
  /** A shadow jail's would-be ban (reported, never enforced). */
  shadow: boolean;
}

export interface ReplaySummary {
  files: string[];
  lines: number;
  matched: number;
  missed: number;
  truncated: number;
  /** Lines without a recognisable syslog header (matched as plain text). */
  noHeader: number;
  elapsedMs: number;
  patterns: PatternSummary[];
  bans: BanSummary[];
  /** Distinct addresses that matched. */
  addresses: number;
}

const CHUNK = 1 << 20;

/**
 * Runs log files through the same matcher pool and engine as live ingestion, with each line's
 * own timestamp, and sums up what would have happened (edgeban's `fail2ban-regex`).
 */
export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const t0 = performance.now();
  const pool = new MatcherPool({ threads: o.threads, patterns: o.patterns });
  // severities (weight: severity) and success lines, as live ingestion gives them to the jails
  o.engine?.setPatterns?.(o.patterns);
  const stats = new SyslogStats();
  const patterns = pool.current.set.patterns;
  const perPattern = new Array<number>(patterns.length).fill(0);
  const bans: BanSummary[] = [];
  const addresses = new Set<string>();
  const pipeline = new IngestPipeline({
    pool,
    sink: o.engine,
    stats,
    log: o.log,
    maxQueued: 64,
    lineTime: true,
    maxLen: o.maxLineLength ?? 8192,
    onMatch: (e) => {
      const idx = patterns.findIndex((p) => p.name === e.pattern);
      if (idx >= 0) perPattern[idx]++;
      addresses.add(formatIp(e.addr, e.family));
      if (e.ban) bans.push(banSummary(e.ban, e.timeMs));
    },
  });
  const ref = o.refTimeMs ?? Date.now();
  const maxLen = o.maxLineLength ?? 8192;
  let totalBytes = 0;
  for (const f of o.files) {
    if (f !== '-') totalBytes += statSync(f).size;
  }
  let bytes = 0;
  let lastProgress = 0;
  // Whole chunks of lines go to the workers as read (they split, trim and cut lines): the main
  // thread does no per-line work, so replay runs at the pool's speed.
  const submit = (data: Buffer, start: number, end: number) => {
    if (end <= start) return;
    const payload = new Uint8Array(end - start);
    payload.set(data.subarray(start, end));
    pipeline.submit(payload, 0, ref);
  };
  try {
    for (const f of o.files) {
      const stream: Readable =
        f === '-' ? (o.stdin ?? process.stdin) : createReadStream(f, { highWaterMark: CHUNK });
      let carry: Buffer | null = null;
      let skipping = false;
      for await (const raw of stream) {
        let chunk = raw as Buffer;
        bytes += chunk.length;
        if (skipping) {
          // rest of an over-long line already cut: drop up to its end
          const nl = chunk.indexOf(10);
          if (nl < 0) continue;
          chunk = chunk.subarray(nl + 1);
          skipping = false;
        }
        if (carry !== null) {
          chunk = Buffer.concat([carry, chunk]);
          carry = null;
        }
        const lastNl = chunk.lastIndexOf(10);
        if (lastNl < 0) {
          if (chunk.length > maxLen) {
            // keep one byte more than the limit so the worker sees (and counts) the cut
            carry = Buffer.from(chunk.subarray(0, maxLen + 1));
            skipping = true;
          } else {
            carry = Buffer.from(chunk);
          }
          continue;
        }
        submit(chunk, 0, lastNl);
        if (lastNl + 1 < chunk.length) carry = Buffer.from(chunk.subarray(lastNl + 1));
        // backpressure: do not read ahead of the workers
        while (pipeline.queued > 8) await pipeline.whenRoom();
        const now = performance.now();
        if (o.onProgress && now - lastProgress > 200) {
          lastProgress = now;
          o.onProgress({ bytes, totalBytes, lines: pipeline.linesProcessed });
        }
      }
      if (carry !== null) submit(carry, 0, carry.length);
    }
    await pipeline.idle();
    o.onProgress?.({ bytes, totalBytes, lines: pipeline.linesProcessed });
  } finally {
    await pool.close();
  }
  const lines = pipeline.linesProcessed;
  const truncated = stats.truncated;
  const matched = perPattern.reduce((a, b) => a + b, 0);
  return {
    files: o.files,
    lines,
    matched,
    missed: lines - matched,
    truncated,
    noHeader: stats.parseFailures,
    elapsedMs: performance.now() - t0,
    patterns: patterns.map((p, i) => ({
      name: p.name,
      severity: p.severity,
      description: p.description,
      matched: perPattern[i],
    })),
    bans,
    addresses: addresses.size,
  };
}

function banSummary(b: BanRecord, at: number): BanSummary {
  return {
    target: b.target,
    pattern: b.pattern,
    at,
    expiresAt: b.expiresAt,
    durationMs: b.expiresAt === null ? null : b.expiresAt - b.createdAt,
    offences: b.offences,
    jail: b.jail ?? DEFAULT_JAIL,
    services: b.services ?? [],
    shadow: b.shadow === true,
  };
}
