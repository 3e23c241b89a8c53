import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { provenance, table, UnverifiedRowsError } from '../../bench/readme-table.js';
import type { BenchReport } from '../../bench/run.js';
import { gitState } from '../../bench/run.js';

const SCRIPT = join(import.meta.dirname, '..', '..', 'bench', 'readme-table.js');

const report = (verified: boolean): BenchReport => ({
  bench: 'demo',
  rows: [
    { name: 'ok row', value: 12, unit: 'ms', verified: true, verification: 'all answers right' },
    { name: 'plain row', value: 3, unit: 'ms' },
    { name: 'checked row', value: 1500, unit: 'req/s', verified, verification: '7 wrong answers' },
  ],
});

const dir = mkdtempSync(join(tmpdir(), 'edgeban-readme-table-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('rows that passed their verification render as figures', () => {
  const t = table(report(true));
  assert.match(t, /\| checked row \| 1,500 \| req\/s \|/);
  assert.doesNotMatch(t, /UNVERIFIED/);
});

test('a row that failed its verification is refused, naming the row and the reason', () => {
  assert.throws(
    () => table(report(false)),
    (err: unknown) =>
      err instanceof UnverifiedRowsError &&
      err.code === 'E_BENCH_UNVERIFIED' &&
      err.message.includes('checked row: 7 wrong answers'),
  );
});

test('--allow-unverified renders it with UNVERIFIED in the figure cell', () => {
  const t = table(report(false), { allowUnverified: true });
  assert.match(t, /\| checked row \| \*\*UNVERIFIED: 1,500\*\* \(7 wrong answers\) \| req\/s \|/);
});

test('the command exits 1 on an unverified result, 0 with --allow-unverified', () => {
  writeFileSync(join(dir, 'demo.json'), JSON.stringify(report(false)));
  const refused = spawnSync(process.execPath, [SCRIPT, `--from=${dir}`, 'demo'], { encoding: 'utf8' });
  assert.equal(refused.status, 1);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /refusing to render/);
  const flagged = spawnSync(process.execPath, [SCRIPT, `--from=${dir}`, '--allow-unverified', 'demo'], {
    encoding: 'utf8',
  });
  assert.equal(flagged.status, 0);
  assert.match(flagged.stdout, /UNVERIFIED: 1,500/);
});

test('results record the commit and whether the tree was dirty; provenance says so', () => {
  const g = gitState();
  assert.match(g.commit ?? '', /^[0-9a-f]{40}$/);
  assert.equal(typeof g.dirty, 'boolean');
  const line = provenance('demo', { ...report(true), git: { commit: 'abc', dirty: true }, node: 'v20.1.0' });
  assert.match(line, /commit abc \(dirty tree\), v20\.1\.0/);
  assert.match(provenance('old', report(true)), /no commit recorded/);
});
