import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { startHttp } from './harness.js';

test('GET /api/events streams a ban made through the API, its unban, and a ban from the fleet', async () => {
  const h = await startHttp();
  try {
    const res = await request(`http://127.0.0.1:${h.port}/api/events`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    let text = '';
    const got = new Promise<void>((resolve) => {
      res.body.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('"origin":"fleet"')) resolve();
      });
    });
    await h.call('POST', '/api/ban', { body: { ip_address: '192.0.2.33', reason: 'sse' } });
    await h.call('POST', '/api/unban', { body: { ip_address: '192.0.2.33' } });
    // and a ban another node of the fleet made
    h.engine.applyRemote({
      type: 'ban',
      record: {
        target: '198.51.100.4',
        kind: 'temp',
        reason: 'Too many failed attempts',
        pattern: 'sshd-failed-password',
        createdAt: Date.now(),
        expiresAt: Date.now() + 60_000,
        createdBy: 'engine',
        offences: 1,
        node: 'edge-2',
      },
    });
    await got;
    const events = text
      .split('\n\n')
      .filter((b) => b.startsWith('id:'))
      .map((b) => {
        const ev = /event: (\w+)/.exec(b)?.[1];
        const data = JSON.parse(/data: (.*)/.exec(b)?.[1] ?? '{}') as Record<string, unknown>;
        return { ev, data };
      });
    assert.equal(events[0].ev, 'ban');
    assert.equal(events[0].data.ip_address, '192.0.2.33');
    assert.equal(events[0].data.reason, 'sse');
    assert.equal(events[0].data.origin, 'local');
    assert.equal(events[1].ev, 'unban');
    assert.equal(events[1].data.origin, 'local');
    assert.equal(events[2].ev, 'ban');
    assert.equal(events[2].data.origin, 'fleet');
    assert.equal(events[2].data.node, 'edge-2');
    res.body.destroy();
  } finally {
    await h.close();
  }
});

test('an event stream outlives the HTTP inactivity timeout (nginx.write_timeout)', {
  timeout: 10_000,
}, async () => {
  const h = await startHttp((c) => {
    c.nginx.write_timeout = 300;
  });
  try {
    const res = await request(`http://127.0.0.1:${h.port}/api/events`);
    let text = '';
    const got = new Promise<void>((resolve) => {
      res.body.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('event: ban')) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 800));
    await h.call('POST', '/api/ban', { body: { ip_address: '192.0.2.44' } });
    await got;
    assert.match(text, /"ip_address":"192\.0\.2\.44"/);
    res.body.destroy();
  } finally {
    await h.close();
  }
});
