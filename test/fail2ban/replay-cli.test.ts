import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';
import { SAMPLES_DIR } from './oracle.js';

const BIN = fileURLToPath(new URL('../../../bin/edgeban.js', import.meta.url));
const edgeban = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

test('edgeban replay --help documents the fail2ban-regex mode', () => {
  const r = edgeban('replay', '--help');
  assert.equal(r.status, 0);
  for (const opt of [
    'LOG… FILTER',
    '--fail2ban DIR',
    '--print-all-matched',
    '--print-all-missed',
    '--print-all-ignored',
    'per input line',
  ]) {
    assert.ok(r.stdout.includes(opt), `--help mentions ${opt}`);
  }
});

test('fail2ban-regex style report: per-regex hits, date templates, line counts, would-be bans, printed lines', () => {
  const r = edgeban(
    'replay',
    '--print-all-missed',
    '--max-attempts',
    '2',
    '--time-window',
    '1d',
    join(SAMPLES_DIR, 'nginx-http-auth'),
    'nginx-http-auth',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Failregex: 7 total$/m);
  assert.match(r.stdout, /^\| {3}1\) \[7\] \^\\s\*\\\[error\\\]/m);
  assert.match(r.stdout, /^Date template hits:\n\|- \[# of hits\] date format\n\| {2}\[12\] /m);
  assert.match(r.stdout, /^Lines: 12 lines, 0 ignored, 7 matched, 5 missed$/m);
  assert.match(r.stdout, /^Would-be bans \(maxretry 2 within 86400s, from options\): [1-9]/m);
  assert.match(r.stdout, /^Missed line\(s\): 5$/m);
});

test('ignoreregex hits are counted and --print-all-ignored lists the lines', () => {
  const dir = tempDir('edgeban-f2b-ign-');
  const filter = join(dir, 'demo.conf');
  writeFileSync(
    filter,
    // the date is cut out and leaves its separator: fail2ban's regexes start with \s* for that
    '[Definition]\nfailregex = ^\\s*login failed from <HOST>$\nignoreregex = ^\\s*login failed from 192\\.0\\.2\\.1$\n',
  );
  const log = join(dir, 'demo.log');
  writeFileSync(
    log,
    '2026-12-01 10:00:00 login failed from 192.0.2.1\n2026-12-01 10:00:01 login failed from 192.0.2.2\n2026-12-01 10:00:02 hello\n',
  );
  const r = edgeban('replay', '--print-all-ignored', '--json', log, filter);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    ignored: number;
    matched: number;
    missed: number;
    ignoreregex: { hits: number }[];
    per_line: { line: number; verdict: string; host: string | null; regex: number }[];
  };
  assert.deepEqual([j.ignored, j.matched, j.missed], [1, 1, 1]);
  assert.equal(j.ignoreregex[0].hits, 1);
  assert.deepEqual(j.per_line, [
    { file: log, line: 1, verdict: 'ignored', regex: 1, host: null },
    { file: log, line: 2, verdict: 'matched', regex: 1, host: '192.0.2.2' },
    { file: log, line: 3, verdict: 'missed', regex: 0, host: null },
  ]);
});

test('hostile input: binary garbage and over-long lines are read, cut and counted; bad filters are clear errors', () => {
  const dir = tempDir('edgeban-f2b-hostile-');
  const log = join(dir, 'garbage.log');
  const long = `Dec  2 10:00:00 host sshd[1]: Invalid user ${'x'.repeat(100_000)} from 192.0.2.1 port 22`;
  writeFileSync(
    log,
    Buffer.concat([
      randomBytes(200_000),
      Buffer.from(`\n${long}\nDec  2 10:00:01 host sshd[1]: Invalid user a from 192.0.2.9 port 22\n`),
    ]),
  );
  const r = edgeban('replay', '--json', log, 'sshd');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    truncated: number;
    matched: number;
    per_line: { host: string | null }[];
  };
  assert.ok(j.truncated >= 1, 'the 100 kB line was cut');
  assert.equal(j.matched, 1, 'the cut line no longer ends as the regex wants; the normal one matches');
  assert.ok(j.per_line.some((l) => l.host === '192.0.2.9'));
  const missing = edgeban('replay', '--fail2ban', dir, log, 'nosuchfilter.conf');
  assert.equal(missing.status, 2);
  const loop = join(dir, 'loop.conf');
  writeFileSync(loop, '[Definition]\na = %(b)s\nb = %(a)s\nfailregex = %(a)s\n');
  const bad = edgeban('replay', log, loop);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /interpolation deeper than 10 levels/);
  const untranslatable = join(dir, 'atomic.conf');
  writeFileSync(
    untranslatable,
    '[Definition]\nfailregex = ^(?>a+) from <HOST>$\n            ^ok from <HOST>$\n',
  );
  const u = edgeban('replay', log, untranslatable);
  assert.equal(u.status, 0, u.stderr);
  assert.match(u.stdout, /Not translated or quarantined: 1\n\| {2}failregex 1: atomic group/);
  // a lookahead regex gone exponential on a hostile line: quarantined after one slow match
  const slow = join(dir, 'slow.conf');
  writeFileSync(
    slow,
    '[Definition]\nfailregex = ^x (?=(a+)+$)\n            ^ok from <HOST>$\n'.replace('(?=', '<HOST> (?='),
  );
  const slowLog = join(dir, 'slow.log');
  const evil = `x 192.0.2.3 ${'a'.repeat(22)}!`;
  writeFileSync(slowLog, `${[evil, evil, evil, 'ok from 192.0.2.4'].join('\n')}\n`);
  const t0 = Date.now();
  const q = edgeban('replay', slowLog, slow);
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stdout, /failregex 1: quarantined: one match took \d+ ms \(budget 50 ms\)/);
  assert.match(q.stdout, /^Lines: 4 lines, 0 ignored, 1 matched, 3 missed$/m);
  assert.ok(Date.now() - t0 < 30_000, 'one slow match, not three');
});
