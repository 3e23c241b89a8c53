import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/main/config/load.js';
import { importFail2ban } from '../../src/main/fail2ban/import.js';
import { configYaml, importReport } from '../../src/main/fail2ban/import-command.js';
import { servicesOfPort } from '../../src/main/fail2ban/import-jails.js';
import { EDGEBAN_BIN } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const S = 1000;
const H = 3600 * S;

/** Debian's /etc/fail2ban with the overrides an operator writes in jail.local and jail.d. */
function tree(): string {
  const dir = join(tempDir('edgeban-f2b-jails-'), 'fail2ban');
  cpSync('/etc/fail2ban', dir, { recursive: true });
  writeFileSync(
    join(dir, 'jail.local'),
    [
      '[DEFAULT]',
      'ignoreip = 127.0.0.1/8 ::1 198.51.100.0/24',
      'bantime = 20m',
      '',
      '[sshd]',
      'enabled = true',
      'maxretry = 3',
      'findtime = 10m',
      'bantime = 1h',
      'bantime.increment = true',
      'bantime.factor = 3',
      'bantime.maxtime = 1w',
      '',
      '[dovecot]',
      'enabled = true',
      '',
      '[mysqld-auth]',
      'enabled = true',
      'maxretry = 2',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'jail.d', 'zz-edgeban.local'), '[dovecot]\nmaxretry = 4\nfindtime = 1h 30m\n');
  return dir;
}

test('port lists map to services only when every entry maps', () => {
  assert.deepEqual(servicesOfPort('ssh'), { services: ['ssh'], unmapped: [] });
  assert.deepEqual(servicesOfPort('pop3,pop3s,imap,imaps,submission,465,sieve'), {
    services: ['pop3', 'imap', 'smtp', 'sieve'],
    unmapped: [],
  });
  assert.deepEqual(servicesOfPort('http,https,8080'), { services: [], unmapped: ['8080'] });
  assert.deepEqual(servicesOfPort('0:65535'), { services: [], unmapped: ['0:65535'] });
  assert.deepEqual(servicesOfPort(null), { services: [], unmapped: [] });
});

test('a real jail.local with overrides: each enabled jail becomes an edgeban jail with the same thresholds', () => {
  const dir = tree();
  const imp = importFail2ban(dir);
  const text = configYaml(imp);
  const cfgDir = tempDir('edgeban-f2b-jails-cfg-');
  const path = join(cfgDir, 'edgeban.yaml');
  writeFileSync(path, text);
  // the written file loads as it is, without a warning (no pattern claimed twice)
  const { config, warnings } = loadConfig({ path, env: {} });
  assert.deepEqual(warnings, []);
  const byName = new Map(config.jails.map((j) => [j.name, j]));
  assert.deepEqual([...byName.keys()], ['dovecot', 'mysqld-auth', 'sshd']);
  const sshd = byName.get('sshd');
  assert.ok(sshd);
  assert.equal(sshd.maxAttempts, 3);
  assert.equal(sshd.timeWindow, 600 * S);
  assert.equal(sshd.initialBanTime, H);
  assert.equal(sshd.escalationFactor, 3);
  assert.equal(sshd.maxBanTime, 7 * 24 * H);
  assert.deepEqual(sshd.services, ['ssh']);
  const names = new Set(config.syslog.patterns.map((p) => p.name));
  assert.ok(sshd.patterns.length >= 10);
  assert.ok(sshd.patterns.every((p) => names.has(p) && p.startsWith('f2b-sshd-')));
  const dovecot = byName.get('dovecot');
  assert.ok(dovecot);
  assert.equal(dovecot.maxAttempts, 4, 'jail.d/*.local over jail.local');
  assert.equal(dovecot.timeWindow, 5400 * S);
  assert.equal(dovecot.initialBanTime, 20 * 60 * S, '[DEFAULT] bantime');
  assert.equal(dovecot.maxBanTime, 20 * 60 * S, 'no bantime.increment: every ban as long as the first');
  assert.deepEqual(dovecot.services, ['pop3', 'imap', 'smtp', 'sieve']);
  const mysql = byName.get('mysqld-auth');
  assert.ok(mysql);
  assert.equal(mysql.maxAttempts, 2);
  assert.deepEqual(mysql.services, [], 'port 3306 is no known service: every service');
  assert.match(text, /# port 3306: 3306 is no known service: banned on every service/);
  assert.match(text, /# port ssh -> services ssh/);
  // ignoreip merged into ban.ignore_ips, the defaults kept
  assert.deepEqual(config.ban.ignore_ips, [
    '127.0.0.0/8',
    '::1/128',
    '127.0.0.1/8',
    '::1',
    '198.51.100.0/24',
  ]);
  const report = importReport(imp);
  assert.match(report, /ignoreip merged into ban\.ignore_ips: 127\.0\.0\.1\/8 ::1 198\.51\.100\.0\/24/);
  assert.match(report, /jail note {4}port 3306: 3306 is no known service/);
});

test('--to-db writes the patterns and jails into the configured SQLite database; a second run updates them', () => {
  const dir = tree();
  const work = tempDir('edgeban-f2b-todb-');
  const db = join(work, 'edgeban.db');
  const cfg = join(work, 'config.yaml');
  writeFileSync(cfg, `database:\n  driver: sqlite3\n  dsn: ${JSON.stringify(db)}\n`);
  const run = () =>
    spawnSync(process.execPath, [EDGEBAN_BIN, 'import-fail2ban', '--to-db', '--config', cfg, dir], {
      encoding: 'utf8',
      cwd: work,
    });
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /database sqlite3: \d+ patterns created, 0 updated; 3 jails created, 0 updated/);
  assert.match(r.stderr, /ignoreip is not in the database: add to ban\.ignore_ips/);
  const sql = new Database(db, { readonly: true });
  try {
    const jails = sql.prepare('SELECT * FROM jails ORDER BY name').all() as Record<string, unknown>[];
    assert.deepEqual(
      jails.map((j) => j.name),
      ['dovecot', 'mysqld-auth', 'sshd'],
    );
    const sshd = jails[2];
    assert.equal(sshd.max_attempts, 3);
    assert.equal(sshd.time_window_seconds, 600);
    assert.equal(sshd.initial_ban_time_seconds, 3600);
    assert.equal(sshd.max_ban_time_seconds, 7 * 86400);
    assert.equal(sshd.escalation_factor, 3);
    assert.equal(sshd.services, '["ssh"]');
    const pats = JSON.parse(String(sshd.patterns)) as string[];
    const rows = sql.prepare("SELECT name FROM patterns WHERE name LIKE 'f2b-sshd-%'").all() as {
      name: string;
    }[];
    assert.deepEqual(new Set(pats), new Set(rows.map((x) => x.name)), 'the jail names the rows written');
    assert.ok(pats.length >= 5);
    const dovecot = jails[0];
    assert.equal(dovecot.max_attempts, 4);
    assert.equal(dovecot.time_window_seconds, 5400);
  } finally {
    sql.close();
  }
  // the patterns that need the backtracking engine are written with that mark, not dropped
  if (/backtracking {2}#/.test(r.stderr)) {
    const sql2 = new Database(db, { readonly: true });
    try {
      const back = sql2
        .prepare("SELECT count(*) AS n FROM patterns WHERE name LIKE 'f2b-%' AND backtracking = 1")
        .get() as {
        n: number;
      };
      assert.ok(back.n > 0, 'backtracking patterns in the table');
    } finally {
      sql2.close();
    }
  }
  const again = run();
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /0 patterns created, \d+ updated; 0 jails created, 3 updated/);
  // without a database in the configuration: a usage error
  writeFileSync(cfg, 'database:\n  enabled: false\n');
  const none = run();
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--to-db needs database\.enabled: true/);
  assert.ok(readFileSync(cfg, 'utf8').length > 0);
});
