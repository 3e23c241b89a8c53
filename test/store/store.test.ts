import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { SqlStore } from '../../src/main/store/sql-store.js';
import { StoreBinding } from '../../src/main/store/wiring.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { mariadbMissing } from '../helpers/mariadb.js';
import { postgresMissing } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import {
  type Backend,
  makeEngine,
  makeStore,
  mariadbBackend,
  memoryLogger,
  postgresBackend,
  sqliteBackend,
  until,
} from './harness.js';

const MIN = 60_000;

/** Store + engine + a recording stand-in for the matcher pool, bound as the app binds them. */
function bind(store: SqlStore, engine: ReturnType<typeof makeEngine>['engine']) {
  const { log } = memoryLogger();
  const sets: PatternSpec[][] = [];
  const ingest = { setPatterns: (specs: readonly PatternSpec[]) => void sets.push([...specs]) };
  const binding = new StoreBinding(store, {
    ctx: { config: defaultConfig(), configPath: null, log, metrics: undefined as never },
    engine,
    ingest,
  });
  return { binding, sets };
}

const msg = (lines: Record<string, unknown>[]) => lines.map((l) => String(l.msg)).join('\n');

function suite(name: string, make: () => Promise<Backend>, skip: string | false) {
  describe(`store on ${name}`, { skip }, () => {
    let be: Backend;
    before(async () => {
      be = await make();
    });
    after(async () => {
      await be?.close();
    });

    test('migrates an empty database, seeds it from the configuration, and migrates only once', async () => {
      const dsn = await be.fresh();
      const a = makeStore(be.driver, dsn);
      await a.store.start();
      assert.equal(a.store.databaseStatus().connected, true);
      assert.match(msg(a.lines), /database schema migrated/);
      const versions = await be.exec(dsn, 'SELECT name FROM edgeban_schema_version ORDER BY name');
      assert.deepEqual(
        versions.map((v) => v.name),
        ['0001_reference_schema', '0002_bans_offences', '0004_bans_by_jail'],
      );
      const patterns = await be.exec(dsn, 'SELECT name, ip_group, raw FROM patterns ORDER BY id');
      assert.deepEqual(
        patterns.map((p) => p.name),
        builtin.map((p) => p.name),
      );
      // the built-ins capture a named group; the column holds its number
      assert.ok(patterns.every((p) => Number(p.ip_group) >= 1));
      const cfg = await be.exec(dsn, "SELECT * FROM ban_config WHERE name = 'default'");
      assert.equal(Number(cfg[0].initial_ban_time_seconds), 300);
      assert.equal(Number(cfg[0].escalation_factor), 2);
      for (const t of ['blacklist', 'whitelist', 'bans', 'offences'])
        assert.deepEqual(await be.exec(dsn, `SELECT * FROM ${t}`), []);
      assert.deepEqual(a.store.configSource(), {
        patterns_source: 'database',
        ban_config_source: 'database',
        database_enabled: true,
        database_connected: true,
      });
      await a.store.stop();
      const b = makeStore(be.driver, dsn);
      await b.store.start();
      assert.doesNotMatch(msg(b.lines), /database schema migrated|seeded/);
      assert.equal((await be.exec(dsn, 'SELECT name FROM edgeban_schema_version')).length, 3);
      await b.store.stop();
    });

    test('adopts a database made with the reference schema; a removed list entry can be added again', async () => {
      const dsn = await be.fresh();
      for (const s of be.referenceDdl) await be.exec(dsn, s);
      await be.exec(
        dsn,
        "INSERT INTO blacklist (ip_address, reason) VALUES ('203.0.113.9', 'old'), ('10.1.0.0/16', 'range')",
      );
      await be.exec(
        dsn,
        "INSERT INTO blacklist (ip_address, reason, enabled) VALUES ('203.0.113.10', 'removed', FALSE)",
      );
      const { store, lines } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding, sets } = bind(store, e.engine);
      await store.start();
      assert.match(msg(lines), /database schema migrated/);
      assert.doesNotMatch(msg(lines), /seeded/, 'a database with rows is not seeded');
      // the reference's own pattern row is the pattern set, matching `tag: message` by default
      assert.deepEqual(
        sets.at(-1)?.map((p) => [p.name, p.ip_group, p.raw]),
        [['dovecot-auth-failure', 1, false]],
      );
      assert.equal(e.engine.getPolicy().initialBanTime, 5 * MIN);
      assert.equal(e.banned('203.0.113.9'), true);
      assert.equal(e.banned('10.1.200.3'), true, 'CIDR entries work');
      assert.equal(e.banned('203.0.113.10'), false, 'soft-deleted entries stay off');
      // the reference could never re-add a soft-deleted address (UNIQUE): here it comes back on
      e.engine.blacklistAdd('203.0.113.10', { reason: 'back', createdBy: 'op' });
      assert.equal((await store.flush()).durable, true);
      const row = async () =>
        (await be.exec(dsn, "SELECT enabled, reason FROM blacklist WHERE ip_address = '203.0.113.10'"))[0];
      assert.equal(Boolean((await row()).enabled), true);
      assert.equal((await row()).reason, 'back');
      e.engine.blacklistRemove('203.0.113.10', {});
      await store.flush();
      assert.equal(Boolean((await row()).enabled), false);
      e.engine.blacklistAdd('203.0.113.10', { reason: 'again' });
      await store.flush();
      assert.equal(Boolean((await row()).enabled), true);
      assert.equal(
        (await be.exec(dsn, "SELECT * FROM blacklist WHERE ip_address = '203.0.113.10'")).length,
        1,
      );
      await store.reloadNow();
      assert.equal(e.banned('203.0.113.10'), true);
      binding.close();
      await store.stop();
    });

    test('bans and offence memory come back after a restart with their remaining time', async () => {
      const dsn = await be.fresh();
      const t0 = Date.now();
      const a = makeStore(be.driver, dsn);
      const e1 = makeEngine(t0);
      const b1 = bind(a.store, e1.engine);
      await a.store.start();
      let logBan = null;
      for (let i = 0; i < 5; i++) logBan = e1.fail('198.51.100.7');
      assert.ok(logBan);
      const apiBan = e1.engine.ban('192.0.2.0/24', {
        durationMs: 2 * 3600_000,
        reason: 'abuse',
        createdBy: 'alice',
      });
      for (let i = 0; i < 5; i++) e1.fail('2001:db8:1:2::5');
      e1.engine.whitelistAdd('203.0.113.0/24', { reason: 'office' });
      assert.equal((await a.store.flush()).durable, true);
      b1.binding.close();
      await a.store.stop();

      const b = makeStore(be.driver, dsn);
      const e2 = makeEngine(t0 + 60_000);
      const b2 = bind(b.store, e2.engine);
      await b.store.start();
      await b2.binding.startRestore();
      assert.equal(b2.binding.isRestored, true);
      const s = e2.engine.status('198.51.100.7');
      assert.equal(s.banned, true);
      assert.equal(s.expiresAt, logBan.expiresAt, 'same expiry: the remaining time, not a fresh ban');
      assert.equal(s.offences, 1);
      const r = e2.engine.status('192.0.2.77');
      assert.equal(r.banned, true);
      assert.equal(r.matched, '192.0.2.0/24');
      assert.equal(r.expiresAt, apiBan.expiresAt);
      assert.equal(e2.banned('2001:db8:1:2:ffff::1'), true, 'IPv6 bans are per /64 prefix');
      assert.equal(e2.banned('203.0.113.5'), false);
      assert.equal(e2.engine.status('203.0.113.5').kind, 'whitelist');
      // the offence memory came back too: the next ban of the same address escalates
      e2.advance(logBan.expiresAt! - e2.now() + 1000);
      let next = null;
      for (let i = 0; i < 5; i++) next = e2.fail('198.51.100.7');
      assert.equal(next?.offences, 2);
      assert.equal(next!.expiresAt! - next!.createdAt, 10 * MIN);
      b2.binding.close();
      await b.store.stop();
    });

    test('a pattern inserted with plain SQL is loaded on reload, without a restart', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding, sets } = bind(store, e.engine);
      await store.start();
      const before = sets.length;
      await store.reloadNow();
      assert.equal(sets.length, before, 'nothing changed: the matcher pool is left alone');
      await be.exec(
        dsn,
        `INSERT INTO patterns (name, regex, ip_group, severity, description)
         VALUES ('custom-app', 'custom-app: login failed from ([0-9.]+)', 1, 3, 'my app')`,
      );
      await store.reloadNow();
      assert.equal(sets.length, before + 1);
      const custom = sets.at(-1)?.find((p) => p.name === 'custom-app');
      assert.deepEqual(custom, {
        name: 'custom-app',
        regex: 'custom-app: login failed from ([0-9.]+)',
        ip_group: 1,
        severity: 3,
        description: 'my app',
        enabled: true,
        raw: false,
      });
      assert.equal(sets.at(-1)?.length, builtin.length + 1);
      binding.close();
      await store.stop();
    });

    test('a ban_config change made with plain SQL alters the next ban', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding } = bind(store, e.engine);
      await store.start();
      await be.exec(
        dsn,
        "UPDATE ban_config SET max_attempts = 3, initial_ban_time_seconds = 60 WHERE name = 'default'",
      );
      await store.reloadNow();
      assert.equal(e.engine.getPolicy().maxAttempts, 3);
      e.fail('198.51.100.20');
      e.fail('198.51.100.20');
      const ban = e.fail('198.51.100.20');
      assert.ok(ban, 'three failures are enough now');
      assert.equal(ban.expiresAt! - ban.createdAt, 60_000);
      assert.equal(store.configSource().ban_config_source, 'database');
      binding.close();
      await store.stop();
    });

    test('an update with no enabled pattern or a bad ban_config is rejected; an invalid pattern row is skipped and reported, the others apply', async () => {
      const dsn = await be.fresh();
      const { store, lines } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding, sets } = bind(store, e.engine);
      await store.start();
      const n = sets.length;
      await be.exec(dsn, 'UPDATE patterns SET enabled = FALSE');
      await store.reloadNow();
      assert.equal(sets.length, n, 'the previous set stays');
      assert.match(msg(lines), /database patterns rejected: no enabled pattern/);
      await be.exec(dsn, "INSERT INTO patterns (name, regex) VALUES ('broken', 'rip=([0-9]+')");
      await store.reloadNow();
      assert.equal(sets.length, n, 'only a broken row enabled: the previous set stays');
      await be.exec(dsn, "UPDATE patterns SET enabled = TRUE WHERE name = 'sshd-invalid-user'");
      await store.reloadNow();
      assert.equal(sets.length, n + 1, 'the valid row applies despite the broken one');
      assert.deepEqual(
        sets
          .at(-1)
          ?.filter((p) => p.enabled)
          .map((p) => p.name),
        ['sshd-invalid-user'],
      );
      const skipped = lines.filter((l) => /database pattern skipped/.test(String(l.msg)));
      assert.equal(skipped.length, 1, 'logged once');
      assert.equal(skipped[0].pattern, 'broken');
      assert.deepEqual(
        store.configSource().patterns_rejected?.map((r) => r.name),
        ['broken'],
      );
      await store.reloadNow();
      assert.equal(lines.filter((l) => /database pattern skipped/.test(String(l.msg))).length, 1);
      await be.exec(dsn, "UPDATE patterns SET regex = 'rip=([0-9]+)' WHERE name = 'broken'");
      await store.reloadNow();
      assert.equal(sets.length, n + 2);
      assert.deepEqual(
        sets
          .at(-1)
          ?.filter((p) => p.enabled)
          .map((p) => p.name),
        ['sshd-invalid-user', 'broken'],
      );
      assert.equal(store.configSource().patterns_rejected, undefined);
      await be.exec(dsn, "UPDATE ban_config SET escalation_factor = 0.5 WHERE name = 'default'");
      await store.reloadNow();
      assert.equal(e.engine.getPolicy().escalationFactor, 2);
      assert.match(msg(lines), /database ban_config rejected/);
      binding.close();
      await store.stop();
    });

    test('patterns and ban_config through the store API: validated, reloaded at once', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding, sets } = bind(store, e.engine);
      await store.start();
      const row = await store.createPattern({
        name: 'api-made',
        regex: '(?P<addr>[0-9.]+) denied',
        ip_group: 1,
        severity: 2,
        description: '',
        enabled: true,
      });
      assert.equal(row.name, 'api-made');
      assert.ok(row.id > 0);
      assert.ok(
        sets.at(-1)?.some((p) => p.name === 'api-made'),
        'reloaded without waiting for the interval',
      );
      await assert.rejects(
        store.createPattern({ ...row, name: 'api-made' }),
        (e: { code?: string }) => e.code === 'E_DUPLICATE',
      );
      await assert.rejects(
        store.createPattern({ ...row, name: 'bad', regex: '(a+)+\\1' }),
        (e: { code?: string }) => e.code === 'E_PATTERN',
      );
      const upd = await store.updatePattern(row.id, { severity: 5 });
      assert.equal(upd?.severity, 5);
      assert.equal(await store.updatePattern(999_999, { severity: 1 }), null);
      for (const p of await store.listPatterns())
        if (p.id !== row.id) assert.equal(await store.deletePattern(p.id), true);
      await assert.rejects(
        store.deletePattern(row.id),
        (e: { code?: string }) => e.code === 'E_LAST_PATTERN',
      );
      await assert.rejects(
        store.updatePattern(row.id, { enabled: false }),
        (e: { code?: string }) => e.code === 'E_LAST_PATTERN',
      );
      assert.deepEqual(
        sets.at(-1)?.map((p) => p.name),
        ['api-made'],
      );
      const cfg = await store.getBanConfig();
      assert.equal(cfg?.name, 'default');
      await assert.rejects(
        store.putBanConfig({ ...cfg!, max_attempts: 0 }),
        (e: { code?: string }) => e.code === 'E_BAN_CONFIG',
      );
      const put = await store.putBanConfig({ ...cfg!, max_attempts: 7, escalation_factor: 1.5 });
      assert.equal(put.max_attempts, 7);
      assert.equal(put.escalation_factor, 1.5);
      assert.equal(e.engine.getPolicy().maxAttempts, 7);
      assert.equal(e.engine.getPolicy().escalationFactor, 1.5);
      binding.close();
      await store.stop();
    });

    test('list entries: CIDRs and hand-written forms are canonicalised; removing one disables every form', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const e = makeEngine();
      const { binding } = bind(store, e.engine);
      await store.start();
      await be.exec(
        dsn,
        "INSERT INTO whitelist (ip_address, reason) VALUES ('2001:DB8::/32', 'v6 office'), ('198.51.100.1/32', 'one'), ('not-an-ip', 'junk')",
      );
      await store.reloadNow();
      const wl = store.cachedPolicy?.whitelist.map((r) => r.target);
      assert.deepEqual(wl, ['2001:db8::/32', '198.51.100.1']);
      assert.equal(e.engine.status('2001:db8:ffff::1').kind, 'whitelist');
      assert.equal(e.engine.whitelistRemove('198.51.100.1', {}), true);
      await store.flush();
      const rows = await be.exec(dsn, "SELECT enabled FROM whitelist WHERE ip_address = '198.51.100.1/32'");
      assert.equal(Boolean(rows[0].enabled), false);
      await store.reloadNow();
      assert.equal(e.engine.status('198.51.100.1').kind, null);
      binding.close();
      await store.stop();
    });

    test('log-made bans are written in batches: 5,000 bans, one flush', async () => {
      const dsn = await be.fresh();
      const { store, metrics } = makeStore(be.driver, dsn, { flush_interval: 60_000 });
      const e = makeEngine();
      const { binding } = bind(store, e.engine);
      await store.start();
      for (let i = 0; i < 5000; i++) {
        const ip = `10.${(i >> 8) & 255}.${i & 255}.9`;
        for (let k = 0; k < 5; k++) e.fail(ip);
      }
      assert.equal(
        Number((await be.exec(dsn, 'SELECT COUNT(*) AS n FROM bans'))[0].n),
        0,
        'nothing written yet',
      );
      assert.equal((await store.flush()).durable, true);
      assert.equal(Number((await be.exec(dsn, 'SELECT COUNT(*) AS n FROM bans'))[0].n), 5000);
      assert.equal(Number((await be.exec(dsn, 'SELECT COUNT(*) AS n FROM offences'))[0].n), 5000);
      const text = await metrics.registry.metrics();
      assert.match(text, /fail2ban_database_operations_total\{operation="write",status="success"\} 10000/);
      binding.close();
      await store.stop();
    });
  });
}

suite('SQLite (file on disk)', async () => sqliteBackend(), false);
suite('PostgreSQL (private cluster)', postgresBackend, postgresMissing());
suite('MariaDB (private server, optional)', mariadbBackend, mariadbMissing());

describe('PostgreSQL unavailable', { skip: postgresMissing() }, () => {
  let be: Backend;
  before(async () => {
    be = await postgresBackend();
  });
  after(async () => {
    await be?.close();
  });

  test('a start while it is down serves the last good copy of its policy, then the live one', async () => {
    const dsn = await be.fresh();
    const dir = tempDir('edgeban-cache-');
    const cacheFile = join(dir, 'policy.json');
    const a = makeStore(be.driver, dsn, {}, { cacheFile });
    const e1 = makeEngine();
    const b1 = bind(a.store, e1.engine);
    await a.store.start();
    await be.exec(dsn, "UPDATE ban_config SET max_attempts = 3 WHERE name = 'default'");
    await be.exec(dsn, "INSERT INTO blacklist (ip_address, reason) VALUES ('192.0.2.0/24', 'cached')");
    await be.exec(dsn, "UPDATE patterns SET enabled = FALSE WHERE name LIKE 'nginx%'");
    await a.store.reloadNow();
    b1.binding.close();
    await a.store.stop();
    await be.cluster!.stop();
    try {
      const b = makeStore(be.driver, dsn, { retry_delay: 50 }, { cacheFile });
      const e2 = makeEngine();
      const b2 = bind(b.store, e2.engine);
      await b.store.start();
      assert.equal(b.store.databaseStatus().connected, false);
      assert.equal(b.store.databaseStatus().has_cached_config, true);
      assert.deepEqual(b.store.configSource(), {
        patterns_source: 'database_cached',
        ban_config_source: 'database_cached',
        database_enabled: true,
        database_connected: false,
      });
      assert.match(msg(b.lines), /serving the last good copy of its policy/);
      assert.equal(e2.engine.getPolicy().maxAttempts, 3);
      assert.equal(e2.banned('192.0.2.9'), true);
      const enabled = b2.sets
        .at(-1)
        ?.filter((p) => p.enabled)
        .map((p) => p.name);
      assert.deepEqual(
        enabled,
        builtin.filter((p) => !p.name.startsWith('nginx')).map((p) => p.name),
      );
      // another database's copy is never used
      const other = makeStore(be.driver, `${dsn}x`, {}, { cacheFile });
      await other.store.start();
      assert.equal(other.store.configSource().patterns_source, 'file');
      await other.store.stop();
      await be.cluster!.start();
      await until(() => b.store.databaseStatus().connected, 30_000, 'reconnected');
      assert.equal(b.store.configSource().patterns_source, 'database');
      b2.binding.close();
      await b.store.stop();
    } finally {
      if (!be.cluster!.running) await be.cluster!.start();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bans keep working, changes are journaled, and all of them are written when it returns', async () => {
    const dsn = await be.fresh();
    const { store, lines, metrics } = makeStore(be.driver, dsn, { retry_delay: 50, refresh_interval: 500 });
    const e = makeEngine();
    const { binding } = bind(store, e.engine);
    await store.start();
    for (let k = 0; k < 5; k++) e.fail('198.51.100.1');
    assert.equal((await store.flush()).durable, true);
    await be.cluster!.stop();
    const down: string[] = [];
    for (let i = 0; i < 300; i++) {
      const ip = `203.0.${i >> 8}.${i & 255}`;
      for (let k = 0; k < 5; k++) e.fail(ip);
      down.push(ip);
    }
    e.engine.ban('192.0.2.55', { durationMs: 3600_000, reason: 'while down' });
    e.engine.blacklistAdd('192.0.2.66', { reason: 'while down' });
    // lookups never needed the database
    assert.equal(e.banned('203.0.1.20'), true);
    assert.equal((await store.flush()).durable, false);
    await until(() => !store.databaseStatus().connected, 10_000, 'disconnected');
    const st = store.databaseStatus();
    assert.equal(st.connected, false);
    assert.ok(st.failure_count >= 1);
    assert.ok(st.last_error);
    assert.equal(st.has_cached_config, true);
    assert.ok((st.pending_writes ?? 0) >= 300 + 1 + 1);
    assert.equal(store.configSource().patterns_source, 'database_cached');
    assert.match(msg(lines), /database unavailable: serving from the cached configuration/);
    await be.cluster!.start();
    await until(() => store.databaseStatus().connected, 30_000, 'reconnected');
    await until(() => store.databaseStatus().pending_writes === 0, 10_000, 'journal written');
    assert.match(msg(lines), /database reachable again: writing the journaled changes/);
    const rows = await be.exec(dsn, 'SELECT ip_address FROM bans');
    const inDb = new Set(rows.map((r) => String(r.ip_address)));
    for (const ip of [...down, '198.51.100.1', '192.0.2.55']) assert.ok(inDb.has(ip), `${ip} written`);
    const bl = await be.exec(dsn, "SELECT enabled FROM blacklist WHERE ip_address = '192.0.2.66'");
    assert.equal(bl[0].enabled, true);
    assert.equal(store.configSource().patterns_source, 'database');
    const text = await metrics.registry.metrics();
    assert.match(text, /fail2ban_database_operations_total\{operation="write",status="failure"\}/);
    binding.close();
    await store.stop();
  });
});
