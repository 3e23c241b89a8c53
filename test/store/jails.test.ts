import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { Config } from '../../src/main/config/types.js';
import { completeJail } from '../../src/main/jails/fields.js';
import type { JailSpec } from '../../src/main/jails/types.js';
import type { SqlStore } from '../../src/main/store/sql-store.js';
import { StoreBinding } from '../../src/main/store/wiring.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { mariadbMissing } from '../helpers/mariadb.js';
import { postgresMissing } from '../helpers/postgres.js';
import {
  type Backend,
  makeEngine,
  makeStore,
  mariadbBackend,
  memoryLogger,
  postgresBackend,
  sqliteBackend,
} from './harness.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

/** A config jail as the loader resolves one. */
function configJail(name: string, over: Partial<JailSpec> = {}): JailSpec {
  return {
    name,
    enabled: true,
    patterns: [`${name}-*`],
    maxAttempts: 3,
    timeWindow: 10 * M,
    initialBanTime: H,
    maxBanTime: 24 * H,
    escalationFactor: 2,
    services: [],
    weight: 'one',
    source: 'logs',
    sourceJails: [],
    mode: 'enforce',
    subnet: null,
    logpath: [],
    origin: 'config',
    ...over,
  };
}

/** Store and engine bound as the app binds them, with `jails` as the config file's. */
function bind(store: SqlStore, jails: JailSpec[] = []) {
  const { log, lines } = memoryLogger();
  const e = makeEngine();
  const config: Config = { ...defaultConfig(), jails };
  e.engine.setJails(jails); // what createCore does with the config file's
  const sets: PatternSpec[][] = [];
  const binding = new StoreBinding(store, {
    ctx: { config, configPath: null, log, metrics: undefined as never },
    engine: e.engine,
    ingest: { setPatterns: (specs: readonly PatternSpec[]) => void sets.push([...specs]) },
  });
  return { binding, engine: e.engine, lines, sets, config };
}

const names = (js: readonly JailSpec[]) => js.map((j) => `${j.name}:${j.origin}`);

function suite(name: string, make: () => Promise<Backend>, skip: string | false) {
  describe(`jails on ${name}`, { skip }, () => {
    let be: Backend;
    before(async () => {
      be = await make();
    });
    after(async () => {
      await be?.close();
    });

    test('a fresh database: jails table and patterns.success exist, no jail rows: the config file alone', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const b = bind(store, [configJail('sshd')]);
      await store.start();
      assert.deepEqual(await be.exec(dsn, 'SELECT * FROM jails'), []);
      const pats = await be.exec(dsn, 'SELECT name, success FROM patterns');
      assert.ok(pats.length > 0);
      assert.ok(pats.every((p) => !Number(p.success) && p.success !== true));
      assert.deepEqual(names(b.engine.getJails()), ['sshd:config']);
      assert.deepEqual(await store.listJails(), []);
      await store.stop();
    });

    test('a reference-schema database with no jails: no jails, its pattern and ban_config as before', async () => {
      const dsn = await be.fresh();
      for (const s of be.referenceDdl) await be.exec(dsn, s);
      const { store } = makeStore(be.driver, dsn);
      const b = bind(store);
      await store.start();
      assert.deepEqual(b.engine.getJails(), []);
      assert.deepEqual(
        b.sets.at(-1)?.map((p) => [p.name, p.success === true]),
        [['dovecot-auth-failure', false]],
      );
      assert.equal(b.engine.getPolicy().maxAttempts, 5);
      await store.stop();
    });

    test('rows written by an operator: merged over the config file by name, unset numbers from ban_config, a bad row skipped and said once', async () => {
      const dsn = await be.fresh();
      const { store, lines } = makeStore(be.driver, dsn);
      const b = bind(store, [configJail('sshd'), configJail('web')]);
      await store.start();
      await be.exec(
        dsn,
        "UPDATE ban_config SET max_attempts = 9, time_window_seconds = 1200 WHERE name = 'default'",
      );
      await be.exec(
        dsn,
        `INSERT INTO jails (name, patterns, max_attempts, initial_ban_time_seconds, services, source_jails, mode, subnet)
         VALUES ('sshd', '["sshd-*","sshd"]', 2, 7200, '["ssh"]', '[]', 'shadow', '{"prefix":24,"addresses":4,"window":3600}')`,
      );
      await be.exec(
        dsn,
        `INSERT INTO jails (name, patterns, services, source_jails, source, weight)
         VALUES ('mail', '["dovecot*","postfix*"]', '["imap","smtp"]', '[]', 'logs', 'severity')`,
      );
      await be.exec(
        dsn,
        `INSERT INTO jails (name, patterns, services, source_jails, mode) VALUES ('broken', '["x"]', '["not a service"]', '[]', 'enforce')`,
      );
      await store.reloadNow();
      const jails = b.engine.getJails();
      assert.deepEqual(names(jails), ['mail:database', 'sshd:database', 'web:config']);
      const sshd = jails[1];
      assert.equal(sshd.maxAttempts, 2);
      assert.equal(sshd.initialBanTime, 2 * H);
      assert.equal(sshd.timeWindow, 20 * M, 'time_window from ban_config');
      assert.equal(sshd.mode, 'shadow');
      assert.deepEqual(sshd.services, ['ssh']);
      assert.deepEqual(sshd.subnet, { prefixV4: 24, addresses: 4, window: H });
      const mail = jails[0];
      assert.equal(mail.maxAttempts, 9, 'max_attempts from ban_config');
      assert.equal(mail.weight, 'severity');
      assert.deepEqual(mail.services, ['imap', 'smtp']);
      const said = lines.filter((l) => String(l.msg).startsWith('database jail skipped'));
      assert.equal(said.length, 1);
      assert.equal(said[0].jail, 'broken');
      await store.reloadNow();
      assert.equal(lines.filter((l) => String(l.msg).startsWith('database jail skipped')).length, 1, 'once');
      assert.deepEqual(
        store.configSource().jails_rejected?.map((j) => j.name),
        ['broken'],
      );
      const listed = await store.listJails();
      const broken = listed.find((j) => j.name === 'broken');
      assert.ok(broken && 'error' in broken && /services\[0\]/.test(broken.error));
      // the ban_config changes: a jail that does not set a number follows it
      await be.exec(dsn, "UPDATE ban_config SET max_attempts = 4 WHERE name = 'default'");
      await store.reloadNow();
      assert.equal(b.engine.getJails()[0].maxAttempts, 4);
      // the row goes: the config file's sshd is back
      await be.exec(dsn, "DELETE FROM jails WHERE name = 'sshd'");
      await store.reloadNow();
      assert.deepEqual(names(b.engine.getJails()), ['mail:database', 'sshd:config', 'web:config']);
      await store.stop();
    });

    test('create, update (null: back to ban:), delete through the store; a taken name is E_JAIL_DUPLICATE; in force on return', async () => {
      const dsn = await be.fresh();
      const { store } = makeStore(be.driver, dsn);
      const b = bind(store);
      await store.start();
      const row = await store.createJail(
        completeJail({
          name: 'postfix',
          patterns: ['postfix-*'],
          max_attempts: 5,
          time_window: 30 * M,
          escalation_factor: 1.5,
          services: ['smtp'],
          subnet: { prefix: 22, addresses: 10, window: null },
        }),
      );
      assert.equal(row.name, 'postfix');
      assert.ok(row.id > 0);
      assert.equal(row.time_window, 30 * M);
      assert.equal(row.initial_ban_time, null);
      assert.deepEqual(row.subnet, { prefix: 22, addresses: 10, window: null });
      assert.equal(b.engine.getJails()[0].escalationFactor, 1.5);
      assert.deepEqual(b.engine.getJails()[0].subnet, { prefixV4: 22, addresses: 10, window: 30 * M });
      await assert.rejects(store.createJail(completeJail({ name: 'postfix' })), { code: 'E_JAIL_DUPLICATE' });
      await assert.rejects(store.createJail(completeJail({ name: 'x', source: 'bans', patterns: ['a'] })), {
        code: 'E_JAIL',
      });
      const up = await store.updateJail('postfix', { max_attempts: null, mode: 'shadow', time_window: '1h' });
      assert.equal(up?.max_attempts, null);
      assert.equal(up?.mode, 'shadow');
      assert.equal(up?.escalation_factor, 1.5, 'fields not given are kept');
      const inForce = b.engine.getJails()[0];
      assert.equal(inForce.maxAttempts, 5, 'null: the ban: value (5)');
      assert.equal(inForce.timeWindow, H);
      assert.equal(inForce.mode, 'shadow');
      await assert.rejects(store.updateJail('postfix', { max_attempts: 0 }), { code: 'E_JAIL' });
      assert.equal(await store.updateJail('nope', { max_attempts: 2 }), null);
      assert.equal(await store.deleteJail('postfix'), true);
      assert.equal(await store.deleteJail('postfix'), false);
      assert.deepEqual(b.engine.getJails(), []);
      // patterns.success round-trips
      const p = await store.createPattern({
        name: 'sshd-accepted',
        regex: 'Accepted password for \\S+ from (\\S+)',
        ip_group: 1,
        severity: 1,
        description: '',
        enabled: true,
        raw: false,
        success: true,
      });
      assert.equal(p.success, true);
      assert.equal(b.sets.at(-1)?.find((s) => s.name === 'sshd-accepted')?.success, true);
      await store.stop();
    });
  });
}

suite('sqlite', async () => sqliteBackend(), false);
suite('postgres', postgresBackend, postgresMissing());
suite('mariadb', mariadbBackend, mariadbMissing());
