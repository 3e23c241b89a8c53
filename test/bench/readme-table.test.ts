import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  BENCH_DOC,
  provenance,
  TableMarkerError,
  table,
  tableIn,
  UnverifiedRowsError,
  withTable,
} from '../../bench/readme-table.js';
import type { BenchReport } from '../../bench/run.js';
import { gitState } from '../../bench/run.js';

const SCRIPT = join(import.meta.dirname, '..', '..', 'bench', 'readme-table.js');
const RESULTS = join(import.meta.dirname, '..', '..', '..', 'bench', 'results');

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

test('every table of docs/benchmarks.md is its committed result, rendered, and every result has one', () => {
  const doc = readFileSync(BENCH_DOC, 'utf8');
  const names = readdirSync(RESULTS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));
  assert.ok(names.length > 0);
  for (const name of names) {
    const report = JSON.parse(readFileSync(join(RESULTS, `${name}.json`), 'utf8')) as BenchReport;
    const inDoc = tableIn(doc, name);
    assert.notEqual(inDoc, null, `docs/benchmarks.md has <!-- bench-table ${name} --> markers`);
    assert.equal(inDoc, table(report), `${name}: rerun node dist/bench/readme-table.js --write ${name}`);
  }
});

test('withTable replaces only the marked table of that benchmark, and refuses a page without markers', () => {
  const page = [
    'intro',
    '<!-- bench-table demo -->',
    'old table',
    '<!-- /bench-table -->',
    'between',
    '<!-- bench-table other -->',
    'other table',
    '<!-- /bench-table -->',
    'end',
  ].join('\n');
  const t = table(report(true));
  const next = withTable(page, 'demo', t);
  assert.equal(tableIn(next, 'demo'), t);
  assert.equal(tableIn(next, 'other'), 'other table');
  assert.ok(next.startsWith('intro\n') && next.includes('\nbetween\n') && next.endsWith('\nend'));
  assert.equal(withTable(next, 'demo', t), next, 'writing twice changes nothing');
  assert.throws(() => withTable(page, 'missing', t), TableMarkerError);
});

test('--write puts the table into the page; a page without markers is left untouched (exit 1)', () => {
  writeFileSync(join(dir, 'demo.json'), JSON.stringify(report(true)));
  const page = join(dir, 'page.md');
  writeFileSync(page, '# Figures\n\n<!-- bench-table demo -->\nstale\n<!-- /bench-table -->\n');
  const ok = spawnSync(process.execPath, [SCRIPT, `--from=${dir}`, `--write=${page}`, 'demo'], {
    encoding: 'utf8',
  });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, '');
  assert.equal(
    readFileSync(page, 'utf8'),
    `# Figures\n\n<!-- bench-table demo -->\n${table(report(true))}\n<!-- /bench-table -->\n`,
  );
  writeFileSync(page, '# Figures\n\nno markers\n');
  const refused = spawnSync(process.execPath, [SCRIPT, `--from=${dir}`, `--write=${page}`, 'demo'], {
    encoding: 'utf8',
  });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /no <!-- bench-table demo --> … <!-- \/bench-table --> markers/);
  assert.equal(readFileSync(page, 'utf8'), '# Figures\n\nno markers\n');
});

test('empty markers take the table without touching the next one', () => {
  const doc = [
    '<!-- bench-table a -->',
    '<!-- /bench-table -->',
    '',
    '<!-- bench-table b -->',
    '| b |',
    '<!-- /bench-table -->',
    '',
  ].join('\n');
  const out = withTable(doc, 'a', '| new a |');
  assert.equal(tableIn(out, 'a'), '| new a |');
  assert.equal(tableIn(out, 'b'), '| b |');
  assert.equal(out.split('<!-- /bench-table -->').length, 3, 'both closing markers kept');
});
