import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

/** The API of a whole edgeban process on its default store (SQLite in the working folder). */
describe('API over the SQL store (edgeban serve, SQLite)', () => {
  let edge: EdgeProcess;
  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
    const res = await request(`http://127.0.0.1:${edge.http}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };
  const syslog = async (lines: string[]) => {
    const s = createSocket('udp4');
    for (const l of lines) await new Promise<void>((r) => s.send(l, edge.syslog, '127.0.0.1', () => r()));
    s.close();
  };
  const until = async (fn: () => Promise<boolean>, ms = 5000) => {
    const end = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  };

  before(async () => {
    edge = await startEdge(tempDir('edgeban-api-store-'), {
      FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms',
    });
    await edge.waitFor('edgeban started');
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('status endpoints say the database is live', async () => {
    const db = await call('GET', '/database/status');
    assert.equal(db.json.enabled, true);
    assert.equal(db.json.connected, true);
    assert.equal(db.json.driver, 'sqlite3');
    const src = await call('GET', '/config/source');
    assert.equal(src.json.patterns_source, 'database');
  });

  test('a ban made through the API is durable before the answer', async () => {
    const r = await call('POST', '/api/ban', { ip_address: '198.51.100.70', duration: '2h' });
    assert.equal(r.json.persisted, true);
  });

  test('a pattern added through the API matches the next log lines without a restart', async () => {
    const bad = await call('POST', '/api/patterns', { name: 'broken', regex: '(a+' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.message), /pattern "broken": invalid regex/);
    const created = await call('POST', '/api/patterns', {
      name: 'myapp-bad-login',
      regex: '^myapp: bad login from (\\S+)$',
      ip_group: 1,
      description: 'test app',
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const dup = await call('POST', '/api/patterns', { name: 'myapp-bad-login', regex: 'x(\\S+)' });
    assert.equal(dup.status, 409);
    const list = await call('GET', '/api/patterns');
    assert.ok((list.json.patterns as { name: string }[]).some((p) => p.name === 'myapp-bad-login'));
    const lines = Array.from(
      { length: 5 },
      () => '<34>Nov 30 12:00:00 web1 myapp: bad login from 203.0.113.61',
    );
    const banned = await until(async () => {
      await syslog(lines);
      return (await call('GET', '/api/bans/203.0.113.61')).json.banned === true;
    });
    assert.ok(banned, `the new pattern banned nobody:\n${edge.out().slice(-2000)}`);
  });

  test('ban-config through the API is stored and changes the next ban', async () => {
    const put = await call('PUT', '/api/ban-config', { initial_ban_time: '17m' });
    assert.equal(put.status, 200);
    assert.match(String(put.json.message), /database/);
    const get = await call('GET', '/api/ban-config');
    assert.equal((get.json.ban_config as Record<string, unknown>).initial_ban_time, '17m0s');
    const ban = await call('POST', '/api/ban', { ip_address: '198.51.100.71' });
    assert.equal(ban.json.duration, '17m0s');
  });

  test('pattern update (a regex that cannot run in linear time is refused) and delete', async () => {
    const list = await call('GET', '/api/patterns');
    const mine = (list.json.patterns as { id: number; name: string }[]).find(
      (p) => p.name === 'myapp-bad-login',
    );
    assert.ok(mine);
    const upd = await call('PUT', `/api/patterns/${mine.id}`, { severity: 5 });
    assert.equal((upd.json.pattern as { severity: number }).severity, 5);
    const badUpd = await call('PUT', `/api/patterns/${mine.id}`, { regex: '(?<=x)(\\S+)' });
    assert.equal(badUpd.status, 400);
    const del = await call('DELETE', `/api/patterns/${mine.id}`);
    assert.equal(del.status, 200);
    assert.equal((await call('GET', `/api/patterns/${mine.id}`)).status, 404);
  });
});
