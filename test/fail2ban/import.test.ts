import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { importFail2ban } from '../../src/main/fail2ban/import.js';
import { configYaml, importReport } from '../../src/main/fail2ban/import-command.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../../bin/edgeban.js', import.meta.url));

/** A copy of Debian's /etc/fail2ban with a jail.local and a jail.d override, as operators write them. */
function tree(): string {
  const dir = join(tempDir('edgeban-f2b-'), 'fail2ban');
  cpSync('/etc/fail2ban', dir, { recursive: true });
  writeFileSync(
    join(dir, 'jail.local'),
    [
      '[DEFAULT]',
      'ignoreip = 127.0.0.1/8 ::1',
      '           192.0.2.0/24 ; office',
      'bantime.increment = true',
      'bantime.factor = 2',
      'bantime.maxtime = 1w',
      '',
      '[sshd]',
      'enabled = true',
      'maxretry = 3',
      'findtime = 10m',
      'bantime = 1h',
      '',
      '[dovecot]',
      'enabled = true',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'jail.d', 'zz-edgeban.local'), '[dovecot]\nmaxretry = 4\nfindtime = 1h 30m\n');
  return dir;
}

test('a jail.local with overrides imports to the same thresholds fail2ban would use', () => {
  const imp = importFail2ban(tree());
  const names = imp.jails.map((j) => j.jail.name).sort();
  assert.deepEqual(names, ['dovecot', 'sshd']);
  const sshd = imp.jails.find((j) => j.jail.name === 'sshd');
  const dovecot = imp.jails.find((j) => j.jail.name === 'dovecot');
  assert.ok(sshd && dovecot);
  assert.equal(sshd.jail.maxretry, 3);
  assert.equal(sshd.jail.findtime, 600);
  assert.equal(sshd.jail.bantime, 3600);
  assert.equal(sshd.jail.increment, true);
  assert.equal(sshd.jail.factor, 2);
  assert.equal(sshd.jail.maxtime, 7 * 86400);
  assert.equal(dovecot.jail.maxretry, 4, 'jail.d/*.local is read after jail.local');
  assert.equal(dovecot.jail.findtime, 5400);
  assert.deepEqual(imp.whitelist, ['127.0.0.1/8', '::1', '192.0.2.0/24']);
  assert.ok(sshd.patterns.length >= 10, `sshd patterns: ${sshd.patterns.length}`);
  assert.ok(dovecot.patterns.length >= 2);
  const report = importReport(imp);
  assert.match(report, /jail sshd: filter sshd: \d+ of \d+ failregexes imported/);
  assert.match(report, /backtracking {2}#\d+: .*lookahead/);
  // sshd's context lines (`<F-NOFAIL>`, `<F-MLFGAINED>`) are imported: its sessions need them
  assert.match(report, /filter sshd: (\d+) of \1 failregexes imported/);
  assert.doesNotMatch(report, /context line/);
});

test('the written configuration passes edgeban check-config and matches sshd failures', () => {
  const dir = tree();
  const out = join(tempDir('edgeban-f2b-out-'), 'edgeban.yaml');
  const r = spawnSync(process.execPath, [BIN, 'import-fail2ban', '--jail', 'sshd', '-o', out, dir], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /configuration written to/);
  const text = readFileSync(out, 'utf8');
  const doc = load(text) as {
    ban: Record<string, unknown>;
    syslog: { patterns: { regex: string }[] };
    jails: Record<string, { max_attempts: number; services: string[] }>;
  };
  assert.equal(doc.jails.sshd.max_attempts, 3, 'the jail, as an edgeban jail');
  assert.deepEqual(doc.jails.sshd.services, ['ssh']);
  assert.equal(doc.ban.max_attempts, 3);
  assert.equal(doc.ban.time_window, '600s');
  assert.equal(doc.ban.initial_ban_time, '3600s');
  assert.equal(doc.ban.escalation_factor, 2);
  const check = spawnSync(process.execPath, [BIN, 'check-config', '--config', out], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stderr, /is valid/);
  // the imported patterns find the address in edgeban's `tag: message` text
  const line = 'sshd: Failed password for invalid user admin from 203.0.113.9 port 50273 ssh2';
  const hit = doc.syslog.patterns.map((p) => new RegExp(p.regex).exec(line)).find((m) => m !== null);
  assert.equal(hit?.groups?.ip, '203.0.113.9');
  // a login matches only as what forgives the session (its `mlfgained` group), never as a failure
  const login = doc.syslog.patterns.map((p) =>
    new RegExp(p.regex).exec('sshd: Accepted password for admin from 203.0.113.9 port 1 ssh2'),
  );
  assert.ok(
    login.every((m) => m === null || m.groups?.mlfgained !== undefined),
    'a successful login is not a failure',
  );
  assert.ok(login.some((m) => m !== null));
  assert.equal(configYaml(importFail2ban(dir, ['sshd'])), text);
});
