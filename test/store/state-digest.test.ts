import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mariadbMissing } from '../helpers/mariadb.js';
import { postgresMissing } from '../helpers/postgres.js';
import {
  type Backend,
  makeEngine,
  makeStore,
  mariadbBackend,
  postgresBackend,
  sqliteBackend,
  until,
} from './harness.js';

/**
 * The state fingerprint the snapshot restart relies on: the stop's equals a later start's when
 * nothing changed, and differs after an insert, a delete or a changed expiry made in plain SQL.
 */
function suite(name: string, make: () => Promise<Backend>, skip: string | false) {
  describe(`the ban state fingerprint on ${name}`, { skip }, () => {
    let be: Backend;
    before(async () => {
      be = await make();
    });
    after(async () => {
      await be?.close();
    });

    test('same rows, same fingerprint; an insert, a delete or a re-timed row changes it', async () => {
      const dsn = await be.fresh();
      const e = makeEngine();
      const a = makeStore(be.driver, dsn, {}, { digestOnStop: true });
      await a.store.start();
      e.engine.onEvent((ev) => a.store.enqueue(ev));
      for (const ip of ['192.0.2.1', '192.0.2.2', '2001:db8::/64'])
        e.engine.ban(ip, { durationMs: 3_600_000, reason: 'digest test' });
      for (let f = 0; f < 5; f++) e.fail('198.51.100.9');
      await a.store.flush();
      await a.store.stop();
      const atStop = a.store.stopDigest;
      assert.ok(atStop !== null, 'the stop took a fingerprint after its final write');

      const b = makeStore(be.driver, dsn);
      await b.store.start();
      await until(() => b.store.isConnected, 10_000, 'connected');
      try {
        assert.equal(await b.store.stateDigest(), atStop, 'nothing changed since the stop');
        await be.exec(
          dsn,
          "UPDATE bans SET expires_at_ms = expires_at_ms + 1 WHERE ip_address = '192.0.2.1'",
        );
        const retimed = await b.store.stateDigest();
        assert.notEqual(retimed, atStop);
        await be.exec(dsn, "DELETE FROM bans WHERE ip_address = '192.0.2.2'");
        const deleted = await b.store.stateDigest();
        assert.notEqual(deleted, retimed);
        await be.exec(dsn, "DELETE FROM offences WHERE ip_address = '198.51.100.9'");
        assert.notEqual(await b.store.stateDigest(), deleted, 'offences count too');
      } finally {
        await b.store.stop();
      }
    });
  });
}

suite('sqlite', async () => sqliteBackend(), false);
suite('postgres', () => postgresBackend(), postgresMissing());
suite('mariadb', () => mariadbBackend(), mariadbMissing());
