import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { BanRecord } from '../../src/main/engine/types.js';
import type { SqlStore } from '../../src/main/store/sql-store.js';
import { StoreBinding } from '../../src/main/store/wiring.js';
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

function bind(store: SqlStore, engine: ReturnType<typeof makeEngine>['engine']): StoreBinding {
  const { log } = memoryLogger();
  return new StoreBinding(store, {
    ctx: { config: defaultConfig(), configPath: null, log, metrics: undefined as never },
    engine,
    ingest: { setPatterns: () => {} },
  });
}

/** Every temporary ban the engine lists, by target. */
function allTemp(engine: ReturnType<typeof makeEngine>['engine']): Map<string, BanRecord> {
  const page = engine.list('temp', { limit: Number.MAX_SAFE_INTEGER });
  assert.equal(page.items.length, page.total);
  return new Map(page.items.map((r) => [r.target, r]));
}

/**
 * `n` bans of every kind the engine makes: log-made (IPv4 and IPv6 /64, escalated ones among
 * them), manual with odd durations, a range; expiries land on arbitrary milliseconds.
 */
function makeBans(e: ReturnType<typeof makeEngine>, n: number): void {
  for (let i = 0; i < n; i++) {
    e.advance(i % 3); // the clock moves by 0–2 ms between bans
    const k = i % 10;
    if (k < 6) {
      const ip = `${11 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.7`;
      for (let f = 0; f < 5; f++) e.fail(ip, k < 3 ? 'sshd-failed-password' : 'dovecot-auth-failed');
    } else if (k < 9) {
      e.engine.ban(`${21 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.9`, {
        durationMs: 3_600_000 + i * 13,
        reason: `ticket ${i % 5}`,
        createdBy: k === 6 ? 'alice' : 'bob',
      });
    } else {
      const h = (i >>> 4).toString(16);
      for (let f = 0; f < 5; f++) e.fail(`2001:db8:${h}:${(i & 15).toString(16)}::1`, 'sshd-invalid-user');
    }
  }
  // a range and a re-offence: escalation counts and wide targets come back too
  e.engine.ban('10.20.0.0/16', { durationMs: 7_200_001, reason: 'range', createdBy: 'carol' });
}

describe('a restart with many bans', () => {
  const backends: { name: string; n: number; make: () => Promise<Backend> }[] = [
    { name: 'sqlite (columns from its thread)', n: 100_000, make: async () => sqliteBackend() },
  ];
  if (!postgresMissing())
    backends.push({ name: 'postgres (records)', n: 30_000, make: () => postgresBackend() });
  // past one page (25,000 rows): the keyset of the next page must seek, on each dialect
  if (!mariadbMissing())
    backends.push({ name: 'mariadb (records)', n: 30_000, make: () => mariadbBackend() });

  for (const spec of backends) {
    describe(spec.name, () => {
      let be: Backend;
      before(async () => {
        be = await spec.make();
      });
      after(async () => {
        await be.close();
      });

      test(`${spec.n.toLocaleString('en-US')} bans come back with every expiry to the millisecond`, async () => {
        const dsn = await be.fresh();
        // the store reads what has not expired by the wall clock: the engine starts from it
        const t0 = Date.now();
        const a = makeStore(be.driver, dsn, { flush_interval: 60_000 });
        const e1 = makeEngine(t0);
        const b1 = bind(a.store, e1.engine);
        await a.store.start();
        makeBans(e1, spec.n);
        const before = allTemp(e1.engine);
        assert.equal(before.size, spec.n + 1);
        assert.equal((await a.store.flush()).durable, true);
        b1.close();
        await a.store.stop();

        // the restart: a new engine and store on the same database, one minute later
        const b = makeStore(be.driver, dsn);
        const e2 = makeEngine(e1.now() + 60_000);
        const b2 = bind(b.store, e2.engine);
        await b.store.start();
        await b2.startRestore();
        assert.equal(b2.isRestored, true);
        assert.equal(e2.engine.activeTempBans, spec.n + 1);
        const got = allTemp(e2.engine);
        assert.equal(got.size, before.size);
        for (const [target, want] of before) {
          const r = got.get(target);
          assert.ok(r, `${target} restored`);
          assert.deepEqual(r, want, target);
        }
        // lookups and the status view agree with the records
        const probes: [string, string][] = [
          ['11.0.0.7', '11.0.0.7'],
          ['21.0.6.9', '21.0.6.9'],
          ['2001:db8:0:9::1', '2001:db8:0:9::/64'],
          ['10.20.3.4', '10.20.0.0/16'],
        ];
        for (const [ip, target] of probes) {
          const want = before.get(target);
          assert.ok(want, target);
          const s = e2.engine.status(ip);
          assert.equal(s.banned, true, ip);
          assert.equal(s.matched, target);
          assert.equal(s.expiresAt, want.expiresAt);
          assert.equal(s.reason, want.reason);
          assert.equal(e2.banned(ip), true);
        }
        // offence memory: the next ban of a restored address escalates from its count
        e2.advance((before.get('11.0.0.7')?.expiresAt ?? 0) - e2.now() + 1);
        let next = null;
        for (let f = 0; f < 5; f++) next = e2.fail('11.0.0.7');
        assert.equal(next?.offences, 2);
        // expiry: a sweep past every expiry empties the table and the engine
        e2.advance(48 * 3600_000);
        e2.engine.sweep();
        assert.equal(e2.engine.activeTempBans, 0);
        assert.equal(e2.engine.list('temp', {}).total, 0);
        assert.equal(e2.banned('21.0.6.9'), false);
        b2.close();
        await b.store.stop();
      });
    });
  }
});
