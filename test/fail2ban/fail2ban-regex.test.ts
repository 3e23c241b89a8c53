import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SAMPLES_DIR } from './oracle.js';

const BIN = fileURLToPath(new URL('../../../bin/edgeban.js', import.meta.url));
/** Filters without sessions (<F-MLFID>) or host names: fail2ban-regex and edgeban agree line by line. */
const FILTERS = [
  'dovecot',
  'postfix',
  'nginx-http-auth',
  'apache-auth',
  'exim',
  'courier-smtp',
  'sendmail-auth',
];

function fail2banRegex(filter: string): { counts: number[]; matched: string[] } {
  const out = execFileSync(
    'fail2ban-regex',
    [
      '--no-check-all',
      '--print-all-matched',
      join(SAMPLES_DIR, filter),
      `/etc/fail2ban/filter.d/${filter}.conf`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const m = /^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/m.exec(out);
  assert.ok(m, `fail2ban-regex summary for ${filter}:\n${out.slice(-500)}`);
  const from = out.indexOf('Matched line');
  const to = out.indexOf('Missed line', from);
  const section = out.slice(from, to < 0 ? undefined : to);
  const matched = section
    .split('\n')
    .filter((l) => l.startsWith('|  '))
    .map((l) => l.slice(3));
  return { counts: m.slice(1, 5).map(Number), matched };
}

function edgeban(filter: string): { counts: number[]; matched: string[] } {
  const out = execFileSync(process.execPath, [BIN, 'replay', '--json', join(SAMPLES_DIR, filter), filter], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const j = JSON.parse(out) as {
    lines: number;
    ignored: number;
    matched: number;
    missed: number;
    per_line: { line: number; verdict: string }[];
  };
  const text = readFileSync(join(SAMPLES_DIR, filter), 'utf8').split('\n');
  const matched = j.per_line.filter((r) => r.verdict === 'matched').map((r) => text[r.line - 1]);
  return { counts: [j.lines, j.ignored, j.matched, j.missed], matched };
}

test('edgeban replay LOG FILTER counts and matches the same lines as fail2ban-regex', {
  timeout: 300_000,
}, () => {
  for (const f of FILTERS) {
    const theirs = fail2banRegex(f);
    const ours = edgeban(f);
    console.log(
      `${f}: fail2ban-regex ${theirs.counts.join('/')} edgeban ${ours.counts.join('/')} (lines/ignored/matched/missed)`,
    );
    assert.ok(theirs.counts[2] > 0, `${f}: the sample log has matches`);
    assert.deepEqual(ours.counts, theirs.counts, f);
    // fail2ban-regex prints the lines right-trimmed
    const trim = (l: string[]) => l.map((x) => x.trimEnd()).sort();
    assert.deepEqual(trim(ours.matched), trim(theirs.matched), f);
  }
});
