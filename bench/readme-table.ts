/**
 * `node dist/bench/readme-table.js NAME…`: the README table for bench/results/NAME.json
 * (notes in brackets after the measurement), so README figures are copied, never retyped.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from './run.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

export function table(report: BenchReport): string {
  const lines = [
    '| measurement | value | unit | baseline in the same run / peer | target |',
    '|---|---:|---|---|---|',
  ];
  for (const r of report.rows) {
    const name = r.notes ? `${r.name} (${r.notes})` : r.name;
    const base = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '';
    lines.push(`| ${name} | ${fmt(r.value)} | ${r.unit} | ${base} | ${r.target ?? ''} |`);
  }
  return lines.join('\n');
}

for (const name of process.argv.slice(2)) {
  const report = JSON.parse(
    readFileSync(join(root, 'bench', 'results', `${name}.json`), 'utf8'),
  ) as BenchReport;
  console.log(`${table(report)}\n`);
}
