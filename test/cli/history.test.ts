import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { EDGEBAN_BIN, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

describe('ban history: edgeban history IP and GET /api/history against a running edgeban (SQLite)', () => {
  let edge: EdgeProcess;
  let url: string;
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, [EDGEBAN_BIN, ...args, '--url', url], {
        env: { ...process.env, EDGEBAN_TOKEN: 'history-token' },
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };
  const viewer = `Basic ${Buffer.from('viewer:viewer-pass').toString('base64')}`;
  const get = async (path: string, auth = viewer) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: auth } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    edge = await startEdge(tempDir('edgeban-history-'), {
      FAIL2BAN_API_TOKENS: 'history-token',
      FAIL2BAN_API_BASIC_AUTH_ENABLED: 'true',
      FAIL2BAN_API_BASIC_AUTH_USERNAME: 'viewer',
      FAIL2BAN_API_BASIC_AUTH_PASSWORD: 'viewer-pass',
      FAIL2BAN_API_READ_ONLY_USERS: 'viewer',
    });
    await edge.waitFor('edgeban started');
    url = `http://127.0.0.1:${edge.http}`;
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('an unban and a whitelist entry show in `edgeban history` (table and --json) and in /api/history', async () => {
    assert.equal((await cli('ban', '198.51.100.40', '--for', '1h', '--reason', 'cli ban')).code, 0);
    assert.equal((await cli('unban', '198.51.100.40')).code, 0);
    assert.equal((await cli('ban', '198.51.100.41', '--for', '1h')).code, 0);
    assert.equal((await cli('whitelist', 'add', '198.51.100.41')).code, 0);

    const t = await cli('history', '198.51.100.40');
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^IP_ADDRESS +JAIL +CREATED_AT +ENDED_AT +END_REASON +ENDED_BY +REASON/m);
    assert.match(t.out, /198\.51\.100\.40 +default +\S+ +\S+ +unban +token:\S+ +cli ban/);
    assert.match(t.out, /1 shown of 1/);

    const j = await cli('history', '198.51.100.41', '--json');
    const parsed = JSON.parse(j.out) as { count: number; history: Record<string, unknown>[] };
    assert.equal(parsed.count, 1);
    assert.equal(parsed.history[0].end_reason, 'whitelist');
    assert.equal(parsed.history[0].kind, 'temp');

    // a read-only user may read the history, not change bans
    const net = await get('/api/history?ip=198.51.100.0/24');
    assert.equal(net.status, 200);
    assert.equal(net.body.count, 2);
    const page = await get('/api/history?ip=198.51.100.0/24&limit=1&offset=1');
    assert.equal(page.body.count, 2);
    assert.deepEqual(
      (page.body.history as { ip_address: string }[]).map((h) => h.ip_address),
      ['198.51.100.40'],
    );
    const since = await get(
      `/api/history?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
    );
    assert.equal(since.body.count, 0);
    assert.equal((await get('/api/history?since=1h')).body.count, 2);
    assert.equal((await get('/api/history?jail=sshd')).body.count, 0);
    const refused = await fetch(`${url}/api/ban`, {
      method: 'POST',
      headers: { authorization: viewer, 'content-type': 'application/json' },
      body: JSON.stringify({ ip_address: '198.51.100.42' }),
    });
    assert.equal(refused.status, 403);
  });

  test('bad filters are a 400 naming the field; no credentials is a 401', async () => {
    const ip = await get('/api/history?ip=1.2.3');
    assert.equal(ip.status, 400);
    assert.equal(ip.body.field, 'ip');
    const since = await get('/api/history?since=yesterday');
    assert.equal(since.status, 400);
    assert.equal(since.body.field, 'since');
    assert.equal((await get('/api/history?limit=5000')).status, 400);
    assert.equal((await fetch(`${url}/api/history`)).status, 401);
    const usage = await cli('history');
    assert.equal(usage.code, 2);
  });
});
