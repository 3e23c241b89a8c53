import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IngestPipeline } from '../../src/main/ingest/pipeline.js';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { SyslogStats } from '../../src/main/syslog/stats.js';
import { compilePattern, type PatternSpec } from '../../src/shared/patterns/compile.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryLogger, RecordingSink } from '../ingest/harness.js';

const BIN = fileURLToPath(new URL('../../../bin/edgeban.js', import.meta.url));

/** Catastrophic on `x: aaaa…a!` and beyond V8's linear engine (a lookahead): only the budget stops it. */
const EVIL: PatternSpec = {
  name: 'f2b-evil-1',
  regex: String.raw`^x: (?=(a+)+$)(?<ip>\d+\.\d+\.\d+\.\d+)`,
  ip_group: 'ip',
  severity: 1,
  description: '',
  enabled: true,
  raw: false,
  backtracking: true,
};
const GOOD: PatternSpec = {
  name: 'f2b-sshd-6',
  regex: String.raw`^sshd: (?:Invalid|Illegal) user \S+ from (?<ip>[0-9.]+)(?= port)`,
  ip_group: 'ip',
  severity: 1,
  description: '',
  enabled: true,
  raw: false,
  backtracking: true,
};

const pool = new MatcherPool({ threads: 1, patterns: [EVIL, GOOD] });
after(() => pool.close());

test('a lookahead pattern needs backtracking: true, and then runs under the time budget and quarantine', async () => {
  const { backtracking: _b, ...plain } = EVIL;
  assert.throws(
    () => compilePattern(plain, 0),
    (e: unknown) => e instanceof PatternError && /linear time/.test(e.message),
  );
  assert.equal(compilePattern(EVIL, 0).name, 'f2b-evil-1');
  const stats = new SyslogStats();
  const { log, lines } = memoryLogger();
  const sink = new RecordingSink();
  const p = new IngestPipeline({ pool, sink, stats, log, maxQueued: 10 });
  // each hostile line costs tens of ms of backtracking: a batch blows the 50 ms budget, the next
  // one is profiled and the culprit quarantined
  const hostile = Array.from({ length: 6 }, () => `x: ${'a'.repeat(21)}!`);
  hostile.push('sshd: Invalid user admin from 192.0.2.7 port 22');
  for (let round = 0; round < 6 && pool.current.skip.length === 0; round++) {
    p.submit(new TextEncoder().encode(hostile.join('\n')), hostile.length, Date.now());
    await p.idle();
  }
  assert.deepEqual(pool.current.skip, [0]);
  assert.ok(lines.some((l) => l.pattern === 'f2b-evil-1' && String(l.msg).startsWith('pattern quarantined')));
  // the imported lookahead pattern next to it kept matching all along
  assert.ok(sink.failures.length >= 2);
});

test('an imported sshd jail bans through the matcher pool and ban engine as fail2ban would', () => {
  const dir = join(tempDir('edgeban-f2b-e2e-'), 'fail2ban');
  cpSync('/etc/fail2ban', dir, { recursive: true });
  writeFileSync(
    join(dir, 'jail.local'),
    '[sshd]\nenabled = true\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\n',
  );
  const config = join(tempDir('edgeban-f2b-e2e-cfg-'), 'edgeban.yaml');
  const imp = spawnSync(process.execPath, [BIN, 'import-fail2ban', '-o', config, dir], { encoding: 'utf8' });
  assert.equal(imp.status, 0, imp.stderr);
  const log = join(tempDir('edgeban-f2b-e2e-log-'), 'auth.log');
  writeFileSync(
    log,
    [
      'Dec  2 10:00:01 host sshd[100]: Failed password for invalid user admin from 192.0.2.10 port 50273 ssh2',
      'Dec  2 10:00:02 host sshd[100]: Failed password for root from 192.0.2.20 port 50274 ssh2',
      'Dec  2 10:00:03 host sshd[101]: Invalid user oracle from 192.0.2.10 port 50275',
      'Dec  2 10:00:04 host sshd[102]: Accepted password for alice from 192.0.2.30 port 50276 ssh2',
      'Dec  2 10:00:05 host sshd[103]: error: maximum authentication attempts exceeded for root from 192.0.2.10 port 50277 ssh2 [preauth]',
      'Dec  2 10:00:06 host sshd[104]: Connection closed by 192.0.2.20 port 50278 [preauth]',
      '',
    ].join('\n'),
  );
  const r = spawnSync(
    process.execPath,
    [BIN, 'replay', '--config', config, '--json', '--no-progress', '--threads', '1', log],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { matched: number; bans: { target: string }[] };
  assert.equal(
    j.matched,
    4,
    'three failures of .10 and one of .20; the accepted login and the close are not failures',
  );
  assert.deepEqual(
    j.bans.map((b) => b.target),
    ['192.0.2.10'],
  );
  // and fail2ban's own semantics on the same file agree on the failures
  const f = spawnSync(process.execPath, [BIN, 'replay', '--fail2ban', dir, '--json', log, 'sshd'], {
    encoding: 'utf8',
  });
  assert.equal(f.status, 0, f.stderr);
  const fj = JSON.parse(f.stdout) as {
    matched: number;
    bans: { host: string }[];
    policy: { maxretry: number };
  };
  assert.equal(fj.matched, 4);
  assert.equal(fj.policy.maxretry, 3, 'the jail.local maxretry');
  assert.deepEqual(
    fj.bans.map((b) => b.host),
    ['192.0.2.10'],
  );
});
