/**
 * `node dist/bench/readme-table.js NAME… [--write[=FILE]] [--allow-unverified] [--from=DIR]`: the
 * docs/benchmarks.md table for bench/results/NAME.json (or DIR/NAME.json, e.g. `--from=bench/out`;
 * notes in brackets after the measurement), so the documented figures are copied, never retyped.
 * It prints the table, or with `--write` replaces it in docs/benchmarks.md (or FILE) between
 * `<!-- bench-table NAME -->` and `<!-- /bench-table -->`. A row whose benchmark found its own
 * answers wrong (`verified: false`) is refused (exit 1) unless `--allow-unverified`, which renders
 * it with "UNVERIFIED" in the figure cell. Where each result comes from (commit, dirty tree, node,
 * date) goes to stderr.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchReport, BenchRow, ResultMeta } from './run.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The page the tables live in. */
export const BENCH_DOC = join(root, 'docs', 'benchmarks.md');

export class TableMarkerError extends Error {
  readonly code = 'E_BENCH_NO_MARKER';
  constructor(
    readonly bench: string,
    readonly file: string,
  ) {
    super(
      `${file}: no <!-- bench-table ${bench} --> … <!-- /bench-table --> markers to put the table between`,
    );
    this.name = 'TableMarkerError';
  }
}

function markers(bench: string): RegExp {
  const name = bench.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // the table never runs past a marker: empty markers must not swallow the next table
  return new RegExp(
    `(<!-- bench-table ${name} -->\n)((?:(?!<!-- /?bench-table)[\\s\\S])*?)\n?(<!-- /bench-table -->)`,
  );
}

/** The table of `bench` as `doc` has it now, or null when the page has no markers for it. */
export function tableIn(doc: string, bench: string): string | null {
  const m = markers(bench).exec(doc);
  return m ? m[2] : null;
}

/** `doc` with the table of `bench` replaced by `t`. */
export function withTable(doc: string, bench: string, t: string, file = BENCH_DOC): string {
  const re = markers(bench);
  if (!re.test(doc)) throw new TableMarkerError(bench, file);
  return doc.replace(re, (_m, open: string, _old: string, close: string) => `${open}${t}\n${close}`);
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

export class UnverifiedRowsError extends Error {
  readonly code = 'E_BENCH_UNVERIFIED';
  constructor(
    readonly bench: string,
    readonly rows: BenchRow[],
  ) {
    super(
      `${bench}: ${rows.length} row(s) failed their own verification, refusing to render them:\n${rows
        .map((r) => `  - ${r.name}: ${r.verification ?? 'no reason recorded'}`)
        .join('\n')}\n(rerun the benchmark, or pass --allow-unverified to render them flagged UNVERIFIED)`,
    );
    this.name = 'UnverifiedRowsError';
  }
}

export function table(report: BenchReport, opts: { allowUnverified?: boolean } = {}): string {
  const bad = report.rows.filter((r) => r.verified === false);
  if (bad.length > 0 && !opts.allowUnverified) throw new UnverifiedRowsError(report.bench, bad);
  const lines = [
    '| measurement | value | unit | baseline in the same run / peer | target |',
    '|---|---:|---|---|---|',
  ];
  for (const r of report.rows) {
    const name = r.notes ? `${r.name} (${r.notes})` : r.name;
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '';
    const value =
      r.verified === false
        ? `**UNVERIFIED: ${fmt(r.value)}** (${r.verification ?? 'verification failed'})`
        : fmt(r.value);
    lines.push(`| ${name} | ${value} | ${r.unit} | ${base} | ${r.target ?? ''} |`);
  }
  return lines.join('\n');
}

/** One line on where a result comes from. */
export function provenance(name: string, report: BenchReport & Partial<ResultMeta>): string {
  const g = report.git;
  const commit = g?.commit ? `commit ${g.commit}${g.dirty ? ' (dirty tree)' : ''}` : 'no commit recorded';
  const node = report.node ?? (report.machine?.node as string | undefined) ?? 'node ?';
  return `${name}: ${commit}, ${node}, ${report.date ?? 'no date'}`;
}

function main(argv: string[]): number {
  const allowUnverified = argv.includes('--allow-unverified');
  const from = argv.find((a) => a.startsWith('--from='))?.slice('--from='.length);
  const dir = from ? resolve(from) : join(root, 'bench', 'results');
  const writeArg = argv.find((a) => a === '--write' || a.startsWith('--write='));
  const target = writeArg?.startsWith('--write=') ? resolve(writeArg.slice('--write='.length)) : BENCH_DOC;
  let doc = writeArg ? readFileSync(target, 'utf8') : '';
  let code = 0;
  for (const name of argv.filter((a) => !a.startsWith('--'))) {
    const report = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as BenchReport &
      Partial<ResultMeta>;
    try {
      const t = table(report, { allowUnverified });
      console.error(provenance(name, report));
      if (writeArg) doc = withTable(doc, name, t, target);
      else console.log(`${t}\n`);
    } catch (err) {
      if (!(err instanceof UnverifiedRowsError) && !(err instanceof TableMarkerError)) throw err;
      console.error(err.message);
      code = 1;
    }
  }
  if (writeArg && code === 0) {
    writeFileSync(target, doc);
    console.error(`tables written to ${target}`);
  }
  return code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  process.exitCode = main(process.argv.slice(2));
