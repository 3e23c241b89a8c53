/**
 * `npm run bench [name…] [-- flags]`: runs every `bench/<name>.bench.ts` (or the named ones) and
 * prints a table. Each result goes to `bench/out/<name>.json` (ignored by git), or with `--save`
 * to the committed `bench/results/<name>.json` the docs/benchmarks.md tables are made from. Every result
 * records the git commit (and whether the tree was dirty), the node version and the date.
 * A benchmark module exports `run(args: string[]): Promise<BenchReport>`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from './args.js';

export interface BenchRow {
  /** What was measured, e.g. `lookup ipv4 hit (BanTable)`. */
  name: string;
  /** Median unless `stat` says otherwise. */
  value: number;
  unit: string;
  stat?: string;
  /** Same measurement of the baseline/peer in the same run, when there is one. */
  baseline?: { name: string; value: number };
  target?: string;
  notes?: string;
  /**
   * Set by a benchmark that checks its own answers (ACKs, responses, bans): false when the check
   * failed, and the figure then measures something else than it says. `readme-table` refuses such
   * rows. Absent: the row has nothing to check.
   */
  verified?: boolean;
  /** What was checked and, when `verified` is false, what went wrong. */
  verification?: string;
}

export interface BenchReport {
  bench: string;
  rows: BenchRow[];
  params?: Record<string, unknown>;
  /** Set when the benchmark could not run here (a tool missing): nothing is written. */
  skipped?: string;
}

/** What run.ts adds to every result file. */
export interface ResultMeta {
  machine: Record<string, unknown>;
  node: string;
  date: string;
  git: { commit: string | null; dirty: boolean | null; changes?: string[] };
  args: string[];
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
/** Run only when named: too long for "every benchmark" (memory spawns a dozen servers and builds the baseline). */
const ONLY_WHEN_NAMED = ['soak', 'memory', 'fleet-counting', 'files'];

function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** HEAD and `git status --porcelain` (first 20 lines); nulls outside a git checkout. */
export function gitState(cwd = repoRoot): ResultMeta['git'] {
  const git = (args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  try {
    const commit = git(['rev-parse', 'HEAD']).trim();
    const changes = git(['status', '--porcelain']).split('\n').filter(Boolean);
    return { commit, dirty: changes.length > 0, changes: changes.slice(0, 20) };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function printTable(report: BenchReport): void {
  console.log(`\n## ${report.bench}`);
  console.log('| measurement | value | unit | baseline | target |');
  console.log('|---|---:|---|---|---|');
  for (const r of report.rows) {
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '';
    const value =
      r.verified === false ? `UNVERIFIED: ${fmt(r.value)} (${r.verification ?? ''})` : fmt(r.value);
    console.log(
      `| ${r.name} | ${value} | ${r.unit}${r.stat ? ` (${r.stat})` : ''} | ${base} | ${r.target ?? ''} |`,
    );
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

/** The envoy benchmark said "skipped" in its params before `skipped` existed. */
function skippedReason(report: BenchReport): string | undefined {
  if (report.skipped) return report.skipped;
  const p = report.params?.skipped;
  return typeof p === 'string' ? p : undefined;
}

async function main(): Promise<void> {
  const all = readdirSync(here)
    .filter((f) => f.endsWith('.bench.js'))
    .map((f) => f.slice(0, -'.bench.js'.length))
    .sort();
  const { names: wanted, flags, recovered } = parseArgs(process.argv.slice(2), all);
  if (recovered.length > 0)
    console.error(
      `bench: npm kept ${recovered.join(' ')} for itself (flags go after \`--\`: \`npm run bench -- ${wanted.join(' ') || 'NAME'} ${recovered.join(' ')}\`); taking ${recovered.length > 1 ? 'them' : 'it'} as given`,
    );
  const names = wanted.length > 0 ? wanted : all.filter((n) => !ONLY_WHEN_NAMED.includes(n));
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const save = flags.includes('--save');
  const outDir = join(repoRoot, 'bench', save ? 'results' : 'out');
  mkdirSync(outDir, { recursive: true });
  const unverified: string[] = [];
  for (const name of names) {
    const mod = (await import(pathToFileURL(join(here, `${name}.bench.js`)).href)) as {
      run(args: string[]): Promise<BenchReport>;
    };
    let report: BenchReport;
    try {
      report = await mod.run(flags);
    } catch (err) {
      console.error(`\n## ${name}: failed, nothing written\n`, err);
      process.exitCode = 1;
      continue;
    }
    const skipped = skippedReason(report);
    if (skipped !== undefined) {
      console.log(`\n## ${name}: skipped: ${skipped} (nothing written)`);
      continue;
    }
    // the tree's state before this run writes anything into it
    const meta: ResultMeta = {
      machine: machine(),
      node: process.version,
      date: new Date().toISOString(),
      git: gitState(),
      args: flags,
    };
    const file = join(outDir, `${name}.json`);
    writeFileSync(file, `${JSON.stringify({ ...report, ...meta }, null, 2)}\n`);
    printTable(report);
    for (const r of report.rows) if (r.verified === false) unverified.push(`${name}: ${r.name}`);
    console.log(
      `\n${name}: wrote ${relative(process.cwd(), file)}${save ? '' : ` (not committed; \`npm run bench -- ${name} --save\` writes bench/results/${name}.json)`}`,
    );
  }
  if (unverified.length > 0) {
    console.error(
      `\nbench: ${unverified.length} row(s) failed their own verification; their figures do not measure what they say:\n  ${unverified.join('\n  ')}`,
    );
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
