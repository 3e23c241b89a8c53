/**
 * `npm run bench [name…]`: runs every `bench/<name>.bench.ts` (or the named ones), writes each
 * result to `bench/results/<name>.json` and prints a table. A benchmark module exports
 * `run(args: string[]): Promise<BenchReport>`.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
}

export interface BenchReport {
  bench: string;
  rows: BenchRow[];
  params?: Record<string, unknown>;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function printTable(report: BenchReport): void {
  console.log(`\n## ${report.bench}`);
  console.log('| measurement | value | unit | baseline | target |');
  console.log('|---|---:|---|---|---|');
  for (const r of report.rows) {
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '';
    console.log(
      `| ${r.name} | ${fmt(r.value)} | ${r.unit}${r.stat ? ` (${r.stat})` : ''} | ${base} | ${r.target ?? ''} |`,
    );
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const wanted = args.filter((a) => !a.startsWith('-'));
  const flags = args.filter((a) => a.startsWith('-'));
  const all = readdirSync(here)
    .filter((f) => f.endsWith('.bench.js'))
    .map((f) => f.slice(0, -'.bench.js'.length))
    .sort();
  const names = wanted.length > 0 ? wanted : all;
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const outDir = join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  for (const name of names) {
    const mod = (await import(pathToFileURL(join(here, `${name}.bench.js`)).href)) as {
      run(args: string[]): Promise<BenchReport>;
    };
    const report = await mod.run(flags);
    const out = { ...report, machine: machine(), date: new Date().toISOString() };
    writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
    printTable(report);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
