import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NullStore } from '../../src/main/store/null-store.js';
import { type HttpHarness, startHttp } from '../http/harness.js';

describe('no database (database.enabled: false)', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp();
  });
  after(async () => h.close());

  test('every pattern route answers 503 E_DB_DISABLED, naming what needed the database', async () => {
    const calls = [
      ['GET', '/api/patterns', undefined, /listing patterns needs the database/],
      ['GET', '/api/patterns/1', undefined, /listing patterns/],
      ['DELETE', '/api/patterns/1/quarantine', undefined, /listing patterns/],
      ['POST', '/api/patterns', { name: 'x', regex: 'from <HOST>' }, /creating a pattern/],
      ['PUT', '/api/patterns/1', { enabled: false }, /updating a pattern/],
      ['DELETE', '/api/patterns/1', undefined, /deleting a pattern/],
    ] as const;
    for (const [method, path, body, message] of calls) {
      const r = await h.call(method, path, body === undefined ? {} : { body });
      assert.equal(r.status, 503, `${method} ${path}`);
      assert.equal(r.json.success, false);
      assert.equal(r.json.error, 'E_DB_DISABLED', `${method} ${path}`);
      assert.match(String(r.json.message), message);
      assert.match(String(r.json.message), /database\.enabled is false/);
    }
  });

  test('the ban policy still changes, in memory, and the status endpoints say so', async () => {
    const r = await h.call('PUT', '/api/ban-config', { body: { initial_ban_time: '9m' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'ban policy updated (memory)');
    assert.equal(h.engine.getPolicy().initialBanTime, 9 * 60_000);
    const cfg = await h.call('GET', '/api/ban-config');
    assert.equal(cfg.json.source, 'file');
    const src = await h.call('GET', '/config/source');
    assert.deepEqual(src.json, {
      patterns_source: 'file',
      ban_config_source: 'file',
      database_enabled: false,
      database_connected: false,
    });
    const db = await h.call('GET', '/database/status');
    assert.equal(db.json.enabled, false);
    assert.equal(db.json.has_cached_config, false);
  });
});

describe('NullStore', () => {
  test('never connects, restores nothing, refuses what needs a database', async () => {
    const s = new NullStore('sqlite3');
    await s.start();
    assert.equal(s.isConnected, false);
    assert.equal(s.cachedPolicy, null);
    assert.deepEqual(s.takeRecovered(), []);
    let pages = 0;
    assert.deepEqual(
      await s.loadStatePaged(Date.now(), () => {
        pages++;
      }),
      { bans: 0, offences: 0 },
    );
    assert.equal(pages, 0);
    assert.deepEqual(await s.flush(), { durable: false });
    assert.equal(s.databaseStatus().driver, 'sqlite3');
    await assert.rejects(
      s.readOtherNodesBans('a', Date.now(), () => {}),
      { code: 'E_DB_DISABLED' },
    );
    await assert.rejects(s.putBanConfig(), { code: 'E_DB_DISABLED' });
    await s.stop();
  });
});
