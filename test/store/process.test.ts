import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { api, dovecotLine, type EdgeProcess, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { PostgresCluster, postgresMissing } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from './harness.js';

/**
 * edgeban as a process with its database: kill -9 and restart (every ban back with its remaining
 * time), plain-SQL changes picked up by the running process, and PostgreSQL going away mid-run.
 */

interface BanView {
  banned: boolean;
  expires_at: string | null;
  offences: number;
}

const count = (edge: EdgeProcess, text: string) => edge.out().split(text).length - 1;

/** Listening everywhere and the persisted state restored. */
async function ready(edge: EdgeProcess): Promise<void> {
  await edge.waitFor('"msg":"edgeban started"', 20_000);
  await edge.waitFor('persisted bans restored', 20_000);
}

async function killHard(edge: EdgeProcess): Promise<void> {
  edge.proc.kill('SIGKILL');
  await edge.exited;
}

/** Bans made through the API and from log lines, kill -9, restart: all back, same expiry. */
async function killAndRestart(
  cwd: string,
  env: Record<string, string>,
  inDb: (ip: string) => Promise<boolean>,
) {
  let edge = await startEdge(cwd, env);
  try {
    await ready(edge);
    const made = await api<{ persisted: boolean; expires_at: string }>(edge, '/api/ban', {
      ip_address: '192.0.2.10',
      duration: '2h',
      reason: 'kill test',
    });
    assert.equal(made.persisted, true, 'the API answers once the ban is in the database');
    assert.equal(await inDb('192.0.2.10'), true);
    await api(edge, '/api/ban', { ip_address: '192.0.2.128/25', duration: 3600 });
    await api(edge, '/api/blacklist', { ip_address: '203.0.113.0/24', reason: 'forever' });
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => dovecotLine('198.51.100.44')),
    );
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => dovecotLine('2001:db8:7::1')),
    );
    await edge.waitFor(/"ip":"198\.51\.100\.44"[^\n]*"msg":"IP banned"/);
    // log-made bans are written within database.flush_interval: wait until they are there
    await until(() => inDb('198.51.100.44'), 10_000, 'log-made ban written');
    await until(() => inDb('2001:db8:7::/64'), 10_000, 'IPv6 prefix ban written');
    const before: Record<string, BanView> = {};
    for (const ip of ['192.0.2.10', '192.0.2.200', '198.51.100.44', '2001:db8:7::99', '203.0.113.7'])
      before[ip] = await api<BanView>(edge, `/api/bans/${ip}`);
    for (const v of Object.values(before)) assert.equal(v.banned, true);
    await killHard(edge);

    edge = await startEdge(cwd, env);
    await ready(edge);
    assert.match(edge.out(), /"bans":4,/);
    for (const [ip, was] of Object.entries(before)) {
      const now = await api<BanView>(edge, `/api/bans/${ip}`);
      assert.equal(now.banned, true, `${ip} banned after the restart`);
      assert.equal(now.expires_at, was.expires_at, `${ip} keeps its expiry`);
      assert.equal(now.offences, was.offences);
    }
    assert.equal(await spopBanned(edge.spoa, '198.51.100.44'), 1);
    assert.equal(await spopBanned(edge.spoa, '192.0.2.10'), 1);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.45'), 0);
  } finally {
    if (edge.proc.exitCode === null) await killHard(edge);
  }
}

describe('edgeban with SQLite (the default)', () => {
  let cwd: string;
  before(() => {
    cwd = tempDir('edgeban-store-proc-');
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  test('kill -9 after API and log-made bans, restart: every ban is back with its remaining time', async () => {
    const dir = mkdtempSync(join(cwd, 'kill-'));
    const file = join(dir, 'fail2ban.db');
    const inDb = async (ip: string) => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT 1 FROM bans WHERE ip_address = ?').get(ip) !== undefined;
      } finally {
        db.close();
      }
    };
    await killAndRestart(
      dir,
      { FAIL2BAN_WORKERS_COUNT: '1', FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms' },
      inDb,
    );
  });

  test('plain SQL on the running database: a new pattern starts matching, a ban_config change alters the next ban', async () => {
    const dir = mkdtempSync(join(cwd, 'reload-'));
    const edge = await startEdge(dir, {
      FAIL2BAN_WORKERS_COUNT: '1',
      FAIL2BAN_DATABASE_REFRESH_INTERVAL: '200ms',
      FAIL2BAN_DATABASE_FLUSH_INTERVAL: '100ms',
    });
    try {
      await ready(edge);
      const db = new Database(join(dir, 'fail2ban.db'), { timeout: 5000 });
      const line = (ip: string) => `<38>Nov 30 12:00:00 app myapp: login failed for bob from ${ip}`;
      // not matched by any built-in pattern
      await sendLines(
        edge.syslog,
        Array.from({ length: 6 }, () => line('198.51.100.60')),
      );
      await sendLines(edge.syslog, [dovecotLine('198.51.100.250')]);
      // the dovecot line went after them: once it is counted, they were seen (and matched nothing)
      await until(
        async () =>
          /fail2ban_pattern_matches_total\{pattern="dovecot-auth-failed",severity="4"\} 1/.test(
            await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text(),
          ),
        10_000,
        'lines matched',
      );
      assert.equal(await spopBanned(edge.spoa, '198.51.100.60'), 0);
      const loads = count(edge, 'patterns loaded from the database');
      db.prepare(
        `INSERT INTO patterns (name, regex, ip_group, severity, description)
         VALUES ('myapp-login', 'myapp: login failed for \\S+ from ([0-9.]+)', 1, 2, 'my application')`,
      ).run();
      await until(() => count(edge, 'patterns loaded from the database') > loads, 10_000, 'pattern reload');
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => line('198.51.100.61')),
      );
      await edge.waitFor(/"ip":"198\.51\.100\.61"[^\n]*"pattern":"myapp-login"[^\n]*"msg":"IP banned"/);
      assert.equal(await spopBanned(edge.spoa, '198.51.100.61'), 1);

      const policies = count(edge, 'ban policy loaded from the database');
      db.prepare(
        "UPDATE ban_config SET max_attempts = 2, initial_ban_time_seconds = 42 WHERE name = 'default'",
      ).run();
      await until(
        () => count(edge, 'ban policy loaded from the database') > policies,
        10_000,
        'policy reload',
      );
      await sendLines(
        edge.syslog,
        Array.from({ length: 2 }, () => line('198.51.100.62')),
      );
      await edge.waitFor(/"ip":"198\.51\.100\.62"[^\n]*"msg":"IP banned"/);
      assert.match(edge.out(), /"ip":"198\.51\.100\.62"[^\n]*"violations":2,"duration":42,/);
      await until(
        () => db.prepare("SELECT 1 FROM bans WHERE ip_address = '198.51.100.62'").get() !== undefined,
        10_000,
        'ban written',
      );
      const row = db
        .prepare("SELECT created_at_ms, expires_at_ms FROM bans WHERE ip_address = '198.51.100.62'")
        .get() as {
        created_at_ms: number;
        expires_at_ms: number;
      };
      assert.equal(row.expires_at_ms - row.created_at_ms, 42_000);
      const src = await api(edge, '/config/source');
      assert.deepEqual(src, {
        patterns_source: 'database',
        ban_config_source: 'database',
        database_enabled: true,
        database_connected: true,
      });
      const metrics = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
      // the built-in set seeded into the database, and the one pattern this test added
      assert.match(metrics, new RegExp(`^fail2ban_config_patterns_loaded ${builtin.length + 1}$`, 'm'));
      assert.match(metrics, /^fail2ban_config_reloads_total\{source="database",status="success"\} \d+$/m);
      assert.match(metrics, /^fail2ban_database_connections_active 1$/m);
      db.close();
    } finally {
      if (edge.proc.exitCode === null) await killHard(edge);
    }
  });
});

describe('edgeban: database policy and the configuration file', () => {
  test('SIGHUP reloads the file, and the database policy stays in force over it', async () => {
    const dir = tempDir('edgeban-store-hup-');
    const edge = await startEdge(dir, { FAIL2BAN_WORKERS_COUNT: '1' });
    try {
      await ready(edge);
      // the database was seeded from the embedded defaults: 5 attempts
      writeFileSync(join(dir, 'config.yaml'), 'ban:\n  max_attempts: 9\n');
      edge.proc.kill('SIGHUP');
      await edge.waitFor('configuration reloaded');
      await until(() => count(edge, 'ban policy loaded from the database') >= 2, 10_000, 'policy re-applied');
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('198.51.100.77')),
      );
      await edge.waitFor(/"ip":"198\.51\.100\.77"[^\n]*"msg":"IP banned"/);
      const cfg = await api<{ source: string; ban_config: { max_attempts: number } }>(
        edge,
        '/api/ban-config',
      );
      assert.equal(cfg.source, 'database');
      assert.equal(cfg.ban_config.max_attempts, 5);
    } finally {
      if (edge.proc.exitCode === null) await killHard(edge);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('database.enabled: false: no database file, status says so, bans still work', async () => {
    const dir = tempDir('edgeban-store-off-');
    const edge = await startEdge(dir, { FAIL2BAN_WORKERS_COUNT: '1', FAIL2BAN_DATABASE_ENABLED: 'false' });
    try {
      await edge.waitFor('"msg":"edgeban started"', 20_000);
      const st = await api<{ enabled: boolean; connected: boolean }>(edge, '/database/status');
      assert.equal(st.enabled, false);
      assert.equal(st.connected, false);
      assert.equal((await api<{ patterns_source: string }>(edge, '/config/source')).patterns_source, 'file');
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('198.51.100.78')),
      );
      await edge.waitFor(/"ip":"198\.51\.100\.78"[^\n]*"msg":"IP banned"/);
      assert.equal(await spopBanned(edge.spoa, '198.51.100.78'), 1);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.includes('.db')),
        [],
      );
    } finally {
      if (edge.proc.exitCode === null) await killHard(edge);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('edgeban with PostgreSQL', { skip: postgresMissing() }, () => {
  let pg: PostgresCluster;
  let cwd: string;
  before(async () => {
    pg = await PostgresCluster.create();
    cwd = tempDir('edgeban-store-pg-');
  });
  after(async () => {
    await pg?.destroy();
    rmSync(cwd, { recursive: true, force: true });
  });

  const env = (dsn: string) => ({
    FAIL2BAN_WORKERS_COUNT: '1',
    FAIL2BAN_DATABASE_DRIVER: 'postgres',
    FAIL2BAN_DATABASE_DSN: dsn,
    FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms',
    FAIL2BAN_DATABASE_RETRY_DELAY: '100ms',
    FAIL2BAN_DATABASE_REFRESH_INTERVAL: '1s',
  });

  test('kill -9 after API and log-made bans, restart: every ban is back with its remaining time', async () => {
    const dsn = await pg.createDatabase('killtest');
    const inDb = async (ip: string) =>
      (await pg.query('killtest', 'SELECT 1 FROM bans WHERE ip_address = $1', [ip])).length > 0;
    await killAndRestart(mkdtempSync(join(cwd, 'kill-')), env(dsn), inDb);
  });

  test('PostgreSQL stops mid-run: lookups keep answering, new bans are journaled and all written when it returns', async () => {
    const dsn = await pg.createDatabase('outage');
    const edge = await startEdge(mkdtempSync(join(cwd, 'outage-')), env(dsn));
    try {
      await ready(edge);
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('198.51.100.1')),
      );
      await until(
        async () =>
          (await pg.query('outage', "SELECT 1 FROM bans WHERE ip_address = '198.51.100.1'")).length > 0,
        10_000,
        'first ban written',
      );
      await pg.stop();
      const ips = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
      for (const ip of ips)
        await sendLines(
          edge.syslog,
          Array.from({ length: 5 }, () => dovecotLine(ip)),
        );
      const manual = await api<{ persisted: boolean }>(edge, '/api/ban', {
        ip_address: '192.0.2.99',
        duration: '1h',
      });
      assert.equal(manual.persisted, false, 'the API says the ban is not in the database yet');
      await until(() => count(edge, '"msg":"IP banned"') >= 21, 10_000, 'bans made while down');
      // lookups never needed the database
      assert.equal(await spopBanned(edge.spoa, '198.51.100.1'), 1);
      for (const ip of ips) assert.equal(await spopBanned(edge.spoa, ip), 1, ip);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.99'), 1);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.98'), 0);
      await until(
        async () => (await api<{ connected: boolean }>(edge, '/database/status')).connected === false,
        10_000,
        'status says disconnected',
      );
      const down = await api<{
        connected: boolean;
        failure_count: number;
        pending_writes: number;
        has_cached_config: boolean;
        last_error?: string;
      }>(edge, '/database/status');
      assert.equal(down.has_cached_config, true);
      assert.ok(down.failure_count >= 1);
      assert.ok(down.last_error);
      assert.ok(down.pending_writes >= ips.length + 1, `journal holds the bans (${down.pending_writes})`);
      assert.equal(
        (await api<{ patterns_source: string }>(edge, '/config/source')).patterns_source,
        'database_cached',
      );
      await edge.waitFor('database unavailable: serving from the cached configuration');

      await pg.start();
      await until(
        async () => {
          const s = await api<{ connected: boolean; pending_writes: number }>(edge, '/database/status');
          return s.connected && s.pending_writes === 0;
        },
        30_000,
        'reconnected and journal written',
      );
      await edge.waitFor('database reachable again');
      const rows = await pg.query<{ ip_address: string }>('outage', 'SELECT ip_address FROM bans');
      const inDb = new Set(rows.map((r) => r.ip_address));
      for (const ip of [...ips, '198.51.100.1', '192.0.2.99'])
        assert.ok(inDb.has(ip), `${ip} in the database`);
      const offences = await pg.query('outage', 'SELECT ip_address FROM offences');
      assert.ok(offences.length >= ips.length + 1);
      assert.equal(
        (await api<{ patterns_source: string }>(edge, '/config/source')).patterns_source,
        'database',
      );
    } finally {
      if (edge.proc.exitCode === null) await killHard(edge);
    }
  });

  test('kill -9 while PostgreSQL is down: the bans and unbans made meanwhile survive on disk and reach it later', async () => {
    const dsn = await pg.createDatabase('spill');
    const dir = mkdtempSync(join(cwd, 'spill-'));
    const journal = join(dir, 'edgeban-journal.jsonl');
    let edge = await startEdge(dir, env(dsn));
    try {
      await ready(edge);
      await api(edge, '/api/ban', { ip_address: '192.0.2.50', duration: '1h' });
      await api(edge, '/api/ban', { ip_address: '192.0.2.51', duration: '1h' });
      await pg.stop();
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('203.0.113.50')),
      );
      await edge.waitFor(/"msg":"IP banned"[^\n]*203\.0\.113\.50|203\.0\.113\.50[^\n]*"msg":"IP banned"/);
      await api(edge, '/api/ban', { ip_address: '198.51.100.50', duration: '1h' });
      await api(edge, '/api/unban', { ip_address: '192.0.2.51' });
      await until(
        () => {
          try {
            const text = readFileSync(journal, 'utf8');
            return (
              text.includes('203.0.113.50') && text.includes('198.51.100.50') && text.includes('"unban"')
            );
          } catch {
            return false;
          }
        },
        5_000,
        'the journal on disk',
      );
      await killHard(edge);

      // back up while the database is still away: the journaled changes are in force at once
      edge = await startEdge(dir, env(dsn));
      await edge.waitFor('bans journaled during the last outage are back in force', 20_000);
      await edge.waitFor('"msg":"edgeban started"', 20_000);
      assert.equal(await spopBanned(edge.spoa, '203.0.113.50'), 1);
      assert.equal(await spopBanned(edge.spoa, '198.51.100.50'), 1);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.51'), 0);

      await pg.start();
      await until(() => !existsSync(journal), 30_000, 'journal written and its file removed');
      const rows = await pg.query<{ ip_address: string }>('spill', 'SELECT ip_address FROM bans');
      const inDb = new Set(rows.map((r) => r.ip_address));
      for (const ip of ['192.0.2.50', '203.0.113.50', '198.51.100.50'])
        assert.ok(inDb.has(ip), `${ip} in the database`);
      assert.ok(!inDb.has('192.0.2.51'), 'the unban made during the outage is written too');
      // the restore (older rows) did not put the lifted ban back
      await edge.waitFor('persisted bans restored', 20_000);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.51'), 0);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 1);
    } finally {
      if (edge.proc.exitCode === null) await killHard(edge);
    }
  });
});
