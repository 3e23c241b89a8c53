import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { SqlStore } from '../../src/main/store/sql-store.js';
import { StoreBinding } from '../../src/main/store/wiring.js';
import { mariadbMissing } from '../helpers/mariadb.js';
import { postgresMissing } from '../helpers/postgres.js';
import { jail } from '../jails/harness.js';
import {
  type Backend,
  makeEngine,
  makeStore,
  mariadbBackend,
  memoryLogger,
  postgresBackend,
  sqliteBackend,
} from './harness.js';

const MIN = 60_000;
const DAY = 24 * 3_600_000;

/** Store and engine bound as the app binds them (every ended ban goes to the history). */
function bind(store: SqlStore, engine: ReturnType<typeof makeEngine>['engine']): StoreBinding {
  const { log } = memoryLogger();
  return new StoreBinding(store, {
    ctx: { config: defaultConfig(), configPath: null, log, metrics: undefined as never },
    engine,
    ingest: { setPatterns: () => {} },
  });
}

function suite(name: string, make: () => Promise<Backend>, skip: string | false) {
  describe(`ban history on ${name}`, { skip }, () => {
    let be: Backend;
    before(async () => {
      be = await make();
    });
    after(async () => {
      await be?.close();
    });

    test('an unban, an expiry and a whitelist entry each leave one row with its end_reason, kept across a restart', async () => {
      const dsn = await be.fresh();
      const e = makeEngine();
      const a = makeStore(be.driver, dsn);
      await a.store.start();
      const binding = bind(a.store, e.engine);
      e.engine.ban('198.51.100.1', { durationMs: 10 * MIN, reason: 'by hand', createdBy: 'alice' });
      e.engine.ban('198.51.100.2', { durationMs: 1 * MIN, reason: 'short' });
      e.engine.ban('198.51.100.3', { durationMs: 10 * MIN, reason: 'hidden' });
      e.engine.ban('2001:db8:1::/64', { durationMs: 10 * MIN, reason: 'v6 net' });
      e.engine.unban('198.51.100.1', { by: 'bob' });
      e.engine.whitelistAdd('198.51.100.3', { createdBy: 'carol' });
      // lifting a ban the whitelist already hid is no second end
      e.engine.unban('198.51.100.3', { by: 'bob' });
      e.advance(2 * MIN);
      e.engine.sweep();
      // a ban another node lifted is that node's history, not this one's
      e.engine.applyRemote({
        type: 'unban',
        target: '2001:db8:1::/64',
        kind: 'temp',
        by: 'other',
        reason: '',
        at: e.now(),
      });
      assert.deepEqual(await a.store.flush(), { durable: true });
      binding.close();
      await a.store.stop();

      const b = makeStore(be.driver, dsn);
      await b.store.start();
      const all = await b.store.readHistory({ limit: 100, offset: 0 });
      assert.equal(all.total, 3);
      const byIp = new Map(all.items.map((h) => [h.ip_address, h]));
      assert.equal(byIp.get('198.51.100.1')?.end_reason, 'unban');
      assert.equal(byIp.get('198.51.100.1')?.ended_by, 'bob');
      assert.equal(byIp.get('198.51.100.1')?.created_by, 'alice');
      assert.equal(byIp.get('198.51.100.1')?.reason, 'by hand');
      assert.equal(byIp.get('198.51.100.1')?.jail, 'default');
      assert.equal(byIp.get('198.51.100.2')?.end_reason, 'expired');
      assert.equal(byIp.get('198.51.100.2')?.ended_by, 'engine');
      assert.equal(byIp.get('198.51.100.3')?.end_reason, 'whitelist');
      assert.equal(byIp.get('198.51.100.3')?.ended_by, 'carol');
      assert.equal(byIp.has('2001:db8:1::/64'), false);
      // newest first: the expiry is two minutes after the others
      assert.equal(all.items[0].ip_address, '198.51.100.2');
      await b.store.stop();
    });

    test('filters: an address finds the prefix ban that covered it, a CIDR the bans inside it; jail, since, paging', async () => {
      const dsn = await be.fresh();
      const e = makeEngine();
      const a = makeStore(be.driver, dsn);
      await a.store.start();
      const binding = bind(a.store, e.engine);
      for (let i = 1; i <= 12; i++) {
        e.engine.ban(`203.0.113.${i}`, { durationMs: 10 * MIN });
        e.engine.unban(`203.0.113.${i}`, { by: 'api' });
        e.advance(1000);
      }
      e.engine.ban('2001:db8:2::/64', { durationMs: 10 * MIN });
      e.engine.purgeTempBans('ops');
      e.engine.ban('192.0.2.9', { durationMs: 10 * MIN });
      e.engine.ban('192.0.2.9', { durationMs: 20 * MIN, reason: 'longer' });
      await a.store.flush();
      const q = (o: Partial<Parameters<SqlStore['readHistory']>[0]>) =>
        a.store.readHistory({ limit: 100, offset: 0, ...o });

      const v6 = await q({ ip: '2001:db8:2::abcd' });
      assert.equal(v6.total, 1);
      assert.equal(v6.items[0].ip_address, '2001:db8:2::/64');
      assert.equal(v6.items[0].end_reason, 'purge');
      assert.equal(v6.items[0].ended_by, 'ops');
      assert.equal((await q({ ip: '2001:db8:3::1' })).total, 0);

      const net = await q({ ip: '203.0.113.0/28' });
      assert.equal(net.total, 12);
      assert.equal((await q({ ip: '203.0.113.8/29' })).total, 5); // .8 … .12
      assert.equal((await q({ ip: '203.0.113.5' })).total, 1);

      const replaced = await q({ ip: '192.0.2.9' });
      assert.equal(replaced.total, 1);
      assert.equal(replaced.items[0].end_reason, 'replaced');

      const page = await q({ ip: '203.0.113.0/24', limit: 5, offset: 5 });
      assert.equal(page.total, 12);
      assert.deepEqual(
        page.items.map((h) => h.ip_address),
        ['203.0.113.7', '203.0.113.6', '203.0.113.5', '203.0.113.4', '203.0.113.3'],
      );
      const since = await q({ since: e.now() - 3500 });
      assert.ok(since.total >= 3 && since.total < 15, `since: ${since.total}`);
      assert.equal((await q({ jail: 'default' })).total, 14);
      assert.equal((await q({ jail: 'sshd' })).total, 0);
      binding.close();
      await a.store.stop();
    });

    test('the retention purge removes rows past database.history_retention, a bounded batch per run', async () => {
      const dsn = await be.fresh();
      const e = makeEngine(Date.now() - 40 * DAY);
      const a = makeStore(
        be.driver,
        dsn,
        { history_retention: 30 * DAY },
        {
          historyPurgeBatch: 4,
          historyPurgeIntervalMs: 3_600_000,
        },
      );
      await a.store.start();
      const binding = bind(a.store, e.engine);
      for (let i = 1; i <= 10; i++) {
        e.engine.ban(`10.9.0.${i}`, { durationMs: MIN });
        e.engine.unban(`10.9.0.${i}`, {});
      }
      e.advance(39 * DAY); // a day ago: kept
      e.engine.ban('10.9.1.1', { durationMs: MIN });
      e.engine.unban('10.9.1.1', {});
      await a.store.flush();
      assert.equal((await a.store.readHistory({ limit: 1, offset: 0 })).total, 11);
      const now = Date.now();
      assert.equal(await a.store.purgeHistory(now), 4);
      assert.equal((await a.store.readHistory({ limit: 1, offset: 0 })).total, 7);
      assert.equal(await a.store.purgeHistory(now), 4);
      assert.equal(await a.store.purgeHistory(now), 2);
      assert.equal(await a.store.purgeHistory(now), 0);
      const left = await a.store.readHistory({ limit: 10, offset: 0 });
      assert.deepEqual(
        left.items.map((h) => h.ip_address),
        ['10.9.1.1'],
      );
      binding.close();
      await a.store.stop();
    });

    test('a ban that ran out while no edgeban ran is kept in the history once, with its jail; recent bans read both tables', async () => {
      const dsn = await be.fresh();
      const real = Date.now();
      const e = makeEngine(real - 30 * MIN);
      e.engine.setJails([jail({ name: 'sshd' })]);
      const a = makeStore(be.driver, dsn);
      await a.store.start();
      const binding = bind(a.store, e.engine);
      // seen expiring by the engine: the engine writes its history row, housekeeping adds none
      e.engine.ban('198.51.100.20', { durationMs: MIN, jail: 'sshd' });
      e.advance(2 * MIN);
      e.engine.sweep();
      assert.deepEqual(await a.store.flush(), { durable: true });
      binding.close();
      await a.store.stop();
      // rows as a stopped edgeban left them: one ran out 10 minutes ago, one 30 s ago
      const put = (ip: string, created: number, expires: number) =>
        be.exec(
          dsn,
          `insert into bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count, jail, services)
           values ('${ip}', 'temp', 'r', 'sshd-failed', ${created}, ${expires}, 'engine', 'n1', 1, 'sshd', null)`,
        );
      await put('198.51.100.21', real - 20 * MIN, real - 10 * MIN);
      await put('198.51.100.22', real - 5 * MIN, real - 30_000);

      const b = makeStore(be.driver, dsn);
      await b.store.start();
      const hist = await b.store.readHistory({ limit: 100, offset: 0 });
      const rows = (ip: string) => hist.items.filter((h) => h.ip_address === ip);
      assert.equal(rows('198.51.100.20').length, 1, 'no second row for an expiry the engine reported');
      assert.equal(rows('198.51.100.20')[0].jail, 'sshd', 'an ended ban keeps its jail');
      const gone = rows('198.51.100.21');
      assert.equal(gone.length, 1);
      assert.equal(gone[0].end_reason, 'expired');
      assert.equal(gone[0].jail, 'sshd');
      assert.equal(gone[0].ended_at_ms, real - 10 * MIN);
      assert.equal(rows('198.51.100.22').length, 0, 'within the grace: left to the engine');
      const left = await be.exec(dsn, 'select ip_address from bans order by ip_address');
      assert.deepEqual(
        left.map((r) => r.ip_address),
        ['198.51.100.22'],
      );
      const recent = await b.store.readRecentBans(real - 60 * MIN, 100);
      assert.deepEqual(
        recent.map((r) => [r.target, r.jail]),
        [
          ['198.51.100.20', 'sshd'],
          ['198.51.100.21', 'sshd'],
          ['198.51.100.22', 'sshd'],
        ],
      );
      assert.equal((await b.store.readRecentBans(real - 60 * MIN, 1)).length, 1, 'bounded');
      // a second start finds nothing more to move
      await b.store.stop();
      const c = makeStore(be.driver, dsn);
      await c.store.start();
      assert.equal((await c.store.readHistory({ limit: 100, offset: 0 })).total, 2);
      await c.store.stop();
    });

    test('history_retention 0 keeps no history', async () => {
      const dsn = await be.fresh();
      const e = makeEngine();
      const a = makeStore(be.driver, dsn, { history_retention: 0 });
      await a.store.start();
      const binding = bind(a.store, e.engine);
      e.engine.ban('10.8.0.1', { durationMs: MIN });
      e.engine.unban('10.8.0.1', {});
      await a.store.flush();
      assert.equal((await a.store.readHistory({ limit: 1, offset: 0 })).total, 0);
      binding.close();
      await a.store.stop();
    });
  });
}

suite('SQLite (file on disk)', async () => sqliteBackend(), false);
suite('PostgreSQL (private cluster)', postgresBackend, postgresMissing());
suite('MariaDB (private server, optional)', mariadbBackend, mariadbMissing());
