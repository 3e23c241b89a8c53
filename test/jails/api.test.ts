import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { PostgresCluster, postgresMissing } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { startHttp } from '../http/harness.js';

type Json = Record<string, unknown>;
type JailJson = Json & { name: string; origin: string };

const RW = `Basic ${Buffer.from('ops:secret-rw').toString('base64')}`;
const RO = `Basic ${Buffer.from('viewer:secret-ro').toString('base64')}`;

/** A config file with one jail and API users, one of them read-only. */
const CONFIG = `ban:
  max_attempts: 5
  time_window: 10m
database:
  refresh_interval: 500ms
api:
  basic_auth:
    enabled: true
    users: {ops: secret-rw, viewer: secret-ro}
  read_only_users: [viewer]
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 3
    services: [ssh]
`;

function client(edge: EdgeProcess) {
  return async (method: string, path: string, body?: unknown, auth = RW) => {
    const res = await fetch(`http://127.0.0.1:${edge.http}${path}`, {
      method,
      headers: {
        authorization: auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Json = {};
    try {
      json = JSON.parse(text) as Json;
    } catch {}
    return { status: res.status, json, text };
  };
}

async function jails(call: ReturnType<typeof client>): Promise<JailJson[]> {
  const r = await call('GET', '/api/jails');
  assert.equal(r.status, 200, r.text);
  return r.json.jails as JailJson[];
}

async function waitFor(cond: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** The CRUD run every backend must pass, on a running `edgeban serve`. */
async function crud(edge: EdgeProcess, insertRow: (sql: string) => Promise<void>) {
  const call = client(edge);
  let list = await jails(call);
  assert.deepEqual(
    list.map((j) => [j.name, j.origin]),
    [
      ['sshd', 'config'],
      ['default', 'default'],
    ],
  );
  assert.equal(list[0].max_attempts, 3);
  assert.equal(list[0].time_window, '10m0s', 'unset: the ban: value');
  assert.deepEqual(list[0].services, ['ssh']);
  assert.equal(list[1].max_attempts, 5);

  const created = await call('POST', '/api/jails', {
    name: 'mail',
    patterns: ['dovecot*', 'postfix*'],
    max_attempts: 4,
    time_window: '5m',
    initial_ban_time: 1800,
    services: ['IMAP', 'smtp'],
    weight: 'severity',
    subnet: { prefix: 24, addresses: 6 },
  });
  assert.equal(created.status, 201, created.text);
  const mail = created.json.jail as Json;
  assert.equal(mail.origin, 'database');
  assert.equal(mail.time_window, '5m0s');
  assert.equal(mail.initial_ban_time_seconds, 1800);
  assert.deepEqual(mail.services, ['imap', 'smtp']);
  assert.deepEqual(mail.subnet, { prefix: 24, addresses: 6, window: '5m0s', window_seconds: 300 });
  assert.ok(typeof mail.id === 'number');
  // in force when the call returns: the engine's jails list it
  list = await jails(call);
  assert.deepEqual(
    list.map((j) => `${j.name}:${j.origin}`),
    ['mail:database', 'sshd:config', 'default:default'],
  );
  const one = await call('GET', '/api/jails/mail');
  assert.equal(one.status, 200);
  assert.equal((one.json.jail as Json).weight, 'severity');

  const dup = await call('POST', '/api/jails', { name: 'mail' });
  assert.equal(dup.status, 409);
  assert.equal(dup.json.error, 'E_JAIL_DUPLICATE');
  for (const [method, path, body] of [
    ['POST', '/api/jails', { name: 'sshd', max_attempts: 9 }],
    ['PUT', '/api/jails/sshd', { max_attempts: 9 }],
    ['DELETE', '/api/jails/sshd', undefined],
    ['PUT', '/api/jails/default', { max_attempts: 9 }],
    ['DELETE', '/api/jails/default', undefined],
  ] as const) {
    const r = await call(method, path, body);
    assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
    assert.equal(r.json.error, 'E_JAIL_CONFIG_OWNED');
  }
  const bad = await call('POST', '/api/jails', { name: 'web', services: ['http', 'we b'] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'E_JAIL');
  assert.match(String(bad.json.message), /services\[1\]/);
  const unknown = await call('POST', '/api/jails', { name: 'web', max_atempts: 3 });
  assert.equal(unknown.status, 400);
  const badName = await call('POST', '/api/jails', { name: 'a b' });
  assert.equal(badName.status, 400);
  const ro = await call('POST', '/api/jails', { name: 'web' }, RO);
  assert.equal(ro.status, 403);
  assert.equal(ro.json.error, 'E_READ_ONLY');
  assert.equal((await call('GET', '/api/jails', undefined, RO)).status, 200, 'a read-only user reads');

  const put = await call('PUT', '/api/jails/mail', { max_attempts: null, mode: 'shadow' });
  assert.equal(put.status, 200, put.text);
  assert.equal((put.json.jail as Json).max_attempts, 5, 'null: back to the ban: value');
  assert.equal((put.json.jail as Json).mode, 'shadow');
  assert.equal((put.json.jail as Json).time_window, '5m0s', 'keys not given are kept');
  assert.equal((await call('PUT', '/api/jails/nope', { mode: 'shadow' })).status, 404);

  // a row an operator writes reaches the engine within the refresh interval (500 ms)
  await insertRow(
    `INSERT INTO jails (name, patterns, services, source_jails, source, max_attempts, time_window_seconds, initial_ban_time_seconds)
     VALUES ('recidive', '[]', '[]', '["mail","sshd"]', 'bans', 3, 86400, 604800)`,
  );
  const took = await waitFor(
    async () => (await jails(call)).some((j) => j.name === 'recidive'),
    5000,
    'the recidive row in force',
  );
  assert.ok(took < 5000);
  const rec = (await call('GET', '/api/jails/recidive')).json.jail as Json;
  assert.equal(rec.source, 'bans');
  assert.deepEqual(rec.source_jails, ['mail', 'sshd']);
  assert.equal(rec.initial_ban_time, '168h0m0s');
  assert.equal(rec.max_ban_time, '168h0m0s', 'raised to the first ban');

  const del = await call('DELETE', '/api/jails/mail');
  assert.equal(del.status, 200);
  assert.equal((await call('GET', '/api/jails/mail')).status, 404);
  assert.equal((await call('DELETE', '/api/jails/mail')).status, 404);
  return call;
}

describe('the jails API on a running edgeban serve', () => {
  test('SQLite: CRUD, config jails read-only, a row written by hand picked up by the refresh, jails kept across a restart', async () => {
    const cwd = tempDir('edgeban-jails-api-');
    writeFileSync(join(cwd, 'config.yaml'), CONFIG);
    const dbFile = join(cwd, 'fail2ban.db');
    let edge = await startEdge(cwd);
    await edge.waitFor('"msg":"spoa started"', 15_000);
    await crud(edge, async (sql) => {
      const db = new Database(dbFile, { timeout: 5000 });
      try {
        db.prepare(sql).run();
      } finally {
        db.close();
      }
    });
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
    edge = await startEdge(cwd);
    await edge.waitFor('"msg":"spoa started"', 15_000);
    const call = client(edge);
    const list = await jails(call);
    assert.deepEqual(
      list.map((j) => `${j.name}:${j.origin}`),
      ['recidive:database', 'sshd:config', 'default:default'],
    );
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
  });

  describe('PostgreSQL', { skip: postgresMissing() }, () => {
    let pg: PostgresCluster;
    before(async () => {
      pg = await PostgresCluster.create();
    });
    after(async () => {
      await pg?.destroy();
    });
    test('CRUD and the refresh, through a PostgreSQL database', async () => {
      const cwd = tempDir('edgeban-jails-api-pg-');
      writeFileSync(join(cwd, 'config.yaml'), CONFIG);
      const dsn = await pg.createDatabase('jails_api');
      const edge = await startEdge(cwd, { FAIL2BAN_DATABASE_DRIVER: 'postgres', FAIL2BAN_DATABASE_DSN: dsn });
      await edge.waitFor('"msg":"spoa started"', 15_000);
      await crud(edge, async (sql) => {
        await pg.query('jails_api', sql);
      });
      const rows = await pg.query('jails_api', 'SELECT name FROM jails ORDER BY name');
      assert.deepEqual(
        rows.map((r) => r.name),
        ['recidive'],
      );
      edge.proc.kill('SIGTERM');
      assert.equal(await edge.exited, 0);
    });
  });
});

test('without a database: GET lists the config jails, writes are 503 E_DB_DISABLED', async () => {
  const h = await startHttp((c) => {
    c.database.enabled = false;
    c.jails = [
      {
        name: 'sshd',
        enabled: true,
        patterns: ['sshd-*'],
        maxAttempts: 3,
        timeWindow: 600_000,
        initialBanTime: 3_600_000,
        maxBanTime: 86_400_000,
        escalationFactor: 2,
        services: [],
        weight: 'one',
        source: 'logs',
        sourceJails: [],
        mode: 'enforce',
        subnet: null,
        logpath: [],
        origin: 'config',
      },
    ];
  });
  try {
    h.engine.setJails(h.ctx.config.jails);
    const list = await h.call('GET', '/api/jails');
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.json.jails as JailJson[]).map((j) => j.name),
      ['sshd', 'default'],
    );
    const post = await h.call('POST', '/api/jails', { body: { name: 'mail', patterns: ['dovecot*'] } });
    assert.equal(post.status, 503);
    assert.equal(post.json.error, 'E_DB_DISABLED');
    const doc = await h.call('GET', '/api/openapi.json');
    const paths = doc.json.paths as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(paths['/api/jails']).sort(), ['get', 'post']);
    assert.deepEqual(Object.keys(paths['/api/jails/{name}']).sort(), ['delete', 'get', 'put']);
  } finally {
    await h.close();
  }
});
