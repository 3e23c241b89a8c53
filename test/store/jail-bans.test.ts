import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { SqlStore } from '../../src/main/store/sql-store.js';
import { StoreBinding } from '../../src/main/store/wiring.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { jail } from '../helpers/jails.js';
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

const MIN = 60_000;
const HOUR = 60 * MIN;

const JAILS = [
  jail('sshd', { patterns: ['sshd-*'] }),
  jail('mail', {
    patterns: ['dovecot-*'],
    maxAttempts: 3,
    services: ['imap', 'smtp'],
    initialBanTime: 30 * MIN,
  }),
  jail('trial', { patterns: ['trial-*'], maxAttempts: 1, mode: 'shadow' }),
];

function bind(store: SqlStore, engine: ReturnType<typeof makeEngine>['engine']) {
  const { log } = memoryLogger();
  const ingest = { setPatterns: (_specs: readonly PatternSpec[]) => {} };
  // the binding hands the config's jails (and the database's) to the engine as it starts
  const config = defaultConfig();
  config.jails = JAILS;
  return new StoreBinding(store, {
    ctx: { config, configPath: null, log, metrics: undefined as never },
    engine,
    ingest,
  });
}

function suite(name: string, make: () => Promise<Backend>, skip: string | false) {
  describe(`jails in the store on ${name}`, { skip }, () => {
    let be: Backend;
    before(async () => {
      be = await make();
    });
    after(async () => {
      await be?.close();
    });

    test('a restart keeps each jail ban of one address with its scope and expiry to the ms', async () => {
      const dsn = await be.fresh();
      const t0 = Date.now();
      const a = makeStore(be.driver, dsn);
      const e1 = makeEngine(t0);
      e1.engine.setJails(JAILS);
      const b1 = bind(a.store, e1.engine);
      await a.store.start();
      let mail = null;
      for (let i = 0; i < 3; i++) mail = e1.fail('198.51.100.20', 'dovecot-auth');
      assert.ok(mail);
      const ssh = e1.engine.ban('198.51.100.20', { jail: 'sshd', durationMs: 2 * HOUR + 7 });
      const web = e1.engine.ban('198.51.100.21', { services: ['http'], durationMs: HOUR });
      assert.ok(e1.fail('198.51.100.22', 'trial-x')?.shadow, 'the shadow jail reports a would-be ban');
      // one of two jails lifted before the write: only its row goes
      e1.engine.ban('198.51.100.23', { jail: 'sshd' });
      e1.engine.ban('198.51.100.23', { jail: 'mail' });
      e1.engine.unban('198.51.100.23', { jail: 'sshd' });
      assert.equal((await a.store.flush()).durable, true);
      const rows = await be.exec(
        dsn,
        'SELECT ip_address, jail, services FROM bans ORDER BY ip_address, jail',
      );
      assert.deepEqual(
        rows.map((r) => `${r.ip_address} ${r.jail} ${r.services ?? '*'}`),
        [
          '198.51.100.20 mail imap,smtp',
          '198.51.100.20 sshd *',
          '198.51.100.21 default http',
          '198.51.100.23 mail imap,smtp',
        ],
        'a row per (address, jail); the shadow would-be ban is not persisted',
      );
      b1.close();
      await a.store.stop();

      const b = makeStore(be.driver, dsn);
      const e2 = makeEngine(t0 + MIN);
      e2.engine.setJails(JAILS);
      const b2 = bind(b.store, e2.engine);
      await b.store.start();
      await b2.startRestore();
      const items = e2.engine.list('temp', {}).items;
      const of = (ip: string, j: string) => items.find((r) => r.target === ip && r.jail === j);
      assert.equal(of('198.51.100.20', 'mail')?.expiresAt, mail.expiresAt);
      assert.deepEqual(of('198.51.100.20', 'mail')?.services, ['imap', 'smtp']);
      assert.equal(of('198.51.100.20', 'sshd')?.expiresAt, ssh.expiresAt);
      assert.deepEqual(of('198.51.100.21', 'default')?.services, ['http']);
      assert.equal(of('198.51.100.21', 'default')?.expiresAt, web.expiresAt);
      assert.equal(e2.engine.list('temp', { shadow: true }).total, 0);
      const t = e2.table;
      const now = Math.floor(e2.now() / 1000);
      const out = new (await import('../../src/shared/bantable/index.js')).LookupResult();
      assert.equal(t.checkString('198.51.100.21', now, out, t.services.lookup('http')), 1);
      assert.equal(t.checkString('198.51.100.21', now, out, t.services.lookup('imap')), 0, 'scope kept');
      assert.equal(t.checkString('198.51.100.23', now, out, t.services.lookup('imap')), 1);
      assert.equal(t.checkString('198.51.100.23', now, out, t.services.lookup('ssh')), 0);
      // lifting one jail after the restart deletes that row and keeps the other
      e2.engine.unban('198.51.100.20', { jail: 'sshd' });
      assert.equal((await b.store.flush()).durable, true);
      const left = await be.exec(dsn, "SELECT jail FROM bans WHERE ip_address = '198.51.100.20'");
      assert.deepEqual(
        left.map((r) => r.jail),
        ['mail'],
      );
      b2.close();
      await b.store.stop();
    });
  });
}

suite('SQLite (file on disk)', async () => sqliteBackend(), false);
suite('PostgreSQL (private cluster)', postgresBackend, postgresMissing());
suite('MariaDB (private server, optional)', mariadbBackend, mariadbMissing());
