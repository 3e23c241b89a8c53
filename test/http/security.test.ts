import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startHttp } from './harness.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('API security', () => {
  test('only api.allowed_ips reach the API, judged by the TCP peer and never a header', async () => {
    const h = await startHttp();
    try {
      h.engine.ban('127.0.0.2', {});
      const variants: Record<string, string>[] = [
        {},
        { 'x-forwarded-for': '127.0.0.1' },
        { 'x-real-ip': '127.0.0.1' },
      ];
      for (const headers of variants) {
        const r = await h.call('POST', '/api/unban', {
          from: '127.0.0.2',
          headers,
          body: { ip_address: '127.0.0.2' },
        });
        assert.equal(r.status, 403);
        assert.equal(r.text, 'Access denied');
      }
      assert.equal(h.engine.status('127.0.0.2').banned, true, 'still banned');
      const docs = await h.call('GET', '/api/openapi.json', { from: '127.0.0.2' });
      assert.equal(docs.status, 403);
      const ok = await h.call('GET', '/api/temp-bans');
      assert.equal(ok.status, 200);
    } finally {
      await h.close();
    }
  });

  test('Basic auth: users map and the single pair, 401 with the reference realm otherwise', async () => {
    const h = await startHttp((c) => {
      c.api.basic_auth = { enabled: true, username: 'admin', password: 's3cret', users: { ops: 'hunter2' } };
    });
    try {
      const none = await h.call('GET', '/api/temp-bans');
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Basic realm="Fail2Ban API"');
      assert.equal(none.text, 'Authentication required');
      const wrong = await h.call('GET', '/api/temp-bans', {
        headers: { authorization: basic('admin', 'nope') },
      });
      assert.equal(wrong.status, 401);
      const unknown = await h.call('GET', '/api/temp-bans', {
        headers: { authorization: basic('eve', 's3cret') },
      });
      assert.equal(unknown.status, 401);
      assert.equal(
        (await h.call('GET', '/api/temp-bans', { headers: { authorization: basic('admin', 's3cret') } }))
          .status,
        200,
      );
      const ban = await h.call('POST', '/api/ban', {
        headers: { authorization: basic('ops', 'hunter2') },
        body: { ip_address: '198.51.100.9' },
      });
      assert.equal(ban.status, 200);
      assert.equal(
        h.engine.list('temp', { filter: '198.51.100.9' }).items[0].createdBy,
        'ops',
        'created_by is the user',
      );
      const audit = h.ctx.logLines.find((l) => l.audit === 'ban');
      assert.equal(audit?.user, 'ops');
      assert.equal(audit?.peer, '127.0.0.1');
    } finally {
      await h.close();
    }
  });

  test('bearer tokens', async () => {
    const h = await startHttp((c) => {
      c.api.tokens = ['tok-abc-123'];
    });
    try {
      assert.equal((await h.call('GET', '/api/blacklist')).status, 401);
      assert.equal(
        (await h.call('GET', '/api/blacklist', { headers: { authorization: 'Bearer tok-abc-124' } })).status,
        401,
      );
      assert.equal(
        (await h.call('GET', '/api/blacklist', { headers: { authorization: 'Bearer tok-abc-123' } })).status,
        200,
      );
    } finally {
      await h.close();
    }
  });

  test('rate limiting per peer: 429 after requests_per_minute', async () => {
    const h = await startHttp((c) => {
      c.api.rate_limiting = {
        enabled: true,
        requests_per_minute: 5,
        exempt: [],
        exempt_authenticated: true,
      };
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) codes.push((await h.call('GET', '/api/temp-bans')).status);
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
      const r = await h.call('GET', '/api/temp-bans');
      assert.equal(r.json.message, 'Rate limit exceeded');
      assert.ok(Number(r.headers['retry-after']) >= 1, 'a 429 says when to come back');
      // /auth is not rate limited: Nginx asks for every request
      for (let i = 0; i < 10; i++) assert.equal((await h.call('GET', '/auth')).status, 200);
      const s = await h.call('GET', '/api/security-status', { from: '127.0.0.1' });
      assert.equal(s.status, 429);
    } finally {
      await h.close();
    }
  });

  test('api.enabled: false removes the API (404), /auth and /health stay', async () => {
    const h = await startHttp((c) => {
      c.api.enabled = false;
    });
    try {
      assert.equal((await h.call('POST', '/api/ban', { body: { ip_address: '1.1.1.1' } })).status, 404);
      assert.equal((await h.call('GET', '/api/openapi.json')).status, 404);
      assert.equal(h.engine.status('1.1.1.1').banned, false);
      assert.equal((await h.call('GET', '/auth')).status, 200);
      assert.equal((await h.call('GET', '/health')).status, 200);
    } finally {
      await h.close();
    }
  });

  test('an empty allowlist without credentials stays loopback-only', async () => {
    const h = await startHttp((c) => {
      c.api.allowed_ips = [];
      c.nginx.address = '127.0.0.1';
    });
    try {
      assert.ok(h.ctx.logLines.some((l) => String(l.msg).includes('stays loopback-only')));
      assert.equal((await h.call('GET', '/api/temp-bans', { from: '127.0.0.1' })).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe('request state', () => {
  test('req.caller is declared with decorateRequest, so every request has it from the start', async () => {
    const h = await startHttp();
    try {
      assert.equal(h.svc.app.hasRequestDecorator('caller'), true);
      const r = await h.call('POST', '/api/ban', { body: { ip_address: '198.18.7.7' } });
      assert.equal(r.status, 200);
      assert.equal(h.engine.status('198.18.7.7').banned, true);
    } finally {
      await h.close();
    }
  });
});
