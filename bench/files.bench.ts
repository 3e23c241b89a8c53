/**
 * File sources: lines/s edgeban follows from log files, through the real file subsystem
 * (FileSourcesService: reads, line splitting, batching) into the matcher pool with the built-in
 * presets, each line counted when the pool has delivered it.
 * - an existing file read from its start (a backlog: `from: start` or a restart behind), against
 *   the matcher pool fed the same lines as in-memory batches in the same run (what reading costs);
 * - a file growing while it is followed: a writer process appends as fast as it can for a bounded
 *   time; the figure is the lines followed per second until edgeban has caught up, against the
 *   writer's own rate.
 * Medians of 3 rounds. `npm run bench -- files` (only when named; `--quick`: smaller corpus).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { defaultConfig } from '../src/main/config/defaults.js';
import { FileSourcesService } from '../src/main/files/service.js';
import type { FailureSink } from '../src/main/ingest/pipeline.js';
import { IngestPipeline } from '../src/main/ingest/pipeline.js';
import { MatcherPool } from '../src/main/ingest/pool.js';
import { Metrics } from '../src/main/metrics/registry.js';
import { SyslogStats } from '../src/main/syslog/stats.js';
import { builtin } from '../src/shared/patterns/presets/index.js';
import { corpusLines } from './fixtures/corpus.js';
import type { BenchReport, BenchRow } from './run.js';

const silent = pino({ level: 'silent' });
/** Longest the writer appends in the growing-file rounds. */
const WRITE_MS = 3000;

class CountingSink implements FailureSink {
  n = 0;
  recordFailure(): null {
    this.n++;
    return null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function until(f: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

interface Rig {
  pool: MatcherPool;
  pipe: IngestPipeline;
  sink: CountingSink;
  files: FileSourcesService;
}

async function rig(dir: string, path: string, threads: number): Promise<Rig> {
  const config = defaultConfig();
  config.database.enabled = false;
  config.files = [{ path, format: 'syslog', tag: '', from: 'start' }];
  const pool = new MatcherPool({ threads, patterns: builtin });
  const sink = new CountingSink();
  const pipe = new IngestPipeline({
    pool,
    sink,
    stats: new SyslogStats(),
    log: silent,
    maxQueued: config.syslog.max_queued_batches,
    maxLen: config.syslog.max_line_length,
  });
  const ctx = { config, configPath: null, log: silent, metrics: new Metrics() };
  const prev = process.cwd();
  process.chdir(dir); // the positions file goes to the working folder without a database
  const files = new FileSourcesService(ctx, () => pipe);
  files.start();
  process.chdir(prev);
  return { pool, pipe, sink, files };
}

async function close(r: Rig): Promise<void> {
  await r.files.stop();
  await r.pipe.idle();
  await r.pool.close();
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const lines = quick ? 100_000 : 500_000;
  const threads = 2;
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-files-'));
  const rows: BenchRow[] = [];
  try {
    const corpus = join(dir, 'corpus.log');
    const all = [...corpusLines({ lines, seed: 7 })];
    writeFileSync(corpus, `${all.join('\n')}\n`);
    const failures = all.filter((l) => l.includes('rip=') || l.includes('from ')).length;
    const bytes = readFileSync(corpus).length;

    // 1. a backlog read from the start, and the pool alone on the same lines
    const backlog: number[] = [];
    const poolOnly: number[] = [];
    let seen = 0;
    for (let round = 0; round < 4; round++) {
      const d = mkdtempSync(join(dir, 'r'));
      const t0 = performance.now();
      const r = await rig(d, corpus, threads);
      const ok = await until(() => r.pipe.linesProcessed === lines, 120_000);
      const sec = (performance.now() - t0) / 1000;
      seen = r.pipe.linesProcessed;
      await close(r);
      if (!ok) throw new Error(`backlog: ${seen} of ${lines} lines delivered`);
      if (round > 0) backlog.push(lines / sec);

      const pool = new MatcherPool({ threads, patterns: builtin });
      const pipe = new IngestPipeline({
        pool,
        sink: new CountingSink(),
        stats: new SyslogStats(),
        log: silent,
        maxQueued: 256,
      });
      // batches cut before the clock starts: the baseline is the pool's own cost
      const batches: { buf: Uint8Array; count: number }[] = [];
      for (let i = 0; i < all.length; i += 512) {
        const chunk = all.slice(i, i + 512);
        batches.push({ buf: Buffer.from(chunk.join('\n')), count: chunk.length });
      }
      const p0 = performance.now();
      for (const bt of batches) {
        const copy = new Uint8Array(bt.buf.length);
        copy.set(bt.buf);
        pipe.submit(copy, bt.count, 0);
        if (pipe.congested) await pipe.whenRoom();
      }
      await pipe.idle();
      if (round > 0) poolOnly.push(lines / ((performance.now() - p0) / 1000));
      await pool.close();
    }
    rows.push({
      name: `backlog: a ${Math.round(bytes / 1e6)} MB file of ${lines} lines read from its start (FileSourcesService → ${threads} matcher workers)`,
      value: median(backlog),
      unit: 'lines/s',
      baseline: {
        name: 'the matcher pool fed the same lines from memory (512-line batches)',
        value: median(poolOnly),
      },
      verified: seen === lines,
      verification: `${seen} of ${lines} lines delivered to the engine side`,
    });

    // 2. a growing file: a writer process appends for WRITE_MS; followed until caught up
    const follow: number[] = [];
    const written: number[] = [];
    let check = '';
    for (let round = 0; round < 3; round++) {
      const d = mkdtempSync(join(dir, 'g'));
      const log = join(d, 'grow.log');
      writeFileSync(log, '');
      const r = await rig(d, log, threads);
      const writer = spawn(
        process.execPath,
        [
          '-e',
          `const fs=require('fs');const src=fs.readFileSync(${JSON.stringify(corpus)},'utf8').split('\\n');const fd=fs.openSync(${JSON.stringify(log)},'a');let n=0,i=0;const end=Date.now()+${WRITE_MS};while(Date.now()<end&&i+1000<src.length){fs.writeSync(fd,src.slice(i,i+1000).join('\\n')+'\\n');i+=1000;n+=1000;}process.stdout.write(String(n));`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      writer.stdout.on('data', (c) => {
        out += c;
      });
      const t0 = performance.now();
      const wrote = await new Promise<number>((res) => writer.on('exit', () => res(Number(out))));
      const tw = (performance.now() - t0) / 1000;
      const ok = await until(() => r.pipe.linesProcessed >= wrote, 120_000);
      const sec = (performance.now() - t0) / 1000;
      const got = r.pipe.linesProcessed;
      await close(r);
      check = `${got} of ${wrote} written lines delivered, none twice`;
      if (!ok || got !== wrote) throw new Error(`growing file: ${check}`);
      follow.push(wrote / sec);
      written.push(wrote / tw);
    }
    rows.push({
      name: `a growing file followed while a writer process appends for ${WRITE_MS / 1000} s (fs.watch; until caught up)`,
      value: median(follow),
      unit: 'lines/s',
      baseline: { name: "the writer's own append rate", value: median(written) },
      verified: true,
      verification: check,
    });
    return {
      bench: 'files',
      rows,
      params: { lines, bytes, threads, failures, write_ms: WRITE_MS, quick },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
