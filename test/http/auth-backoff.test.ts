import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthBackoff } from '../../src/main/http/api/auth-backoff.js';
import { startHttp } from './harness.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('failed API logins back off', () => {
  test('after the free failures the delay doubles, up to the cap; success clears it', () => {
    let now = 0;
    const b = new AuthBackoff({ freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, now: () => now });
    assert.deepEqual([b.fail('p'), b.fail('p'), b.fail('p')], [0, 0, 0]);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(b.fail('p'));
      now += delays[delays.length - 1];
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
    assert.equal(b.blockedFor('other'), 0);
    b.fail('p');
    assert.ok(b.blockedFor('p') > 0);
    b.succeed('p');
    assert.equal(b.blockedFor('p'), 0);
  });

  test('memory is bounded by maxPeers, the oldest peer forgotten first', () => {
    const b = new AuthBackoff({ freeFailures: 0, maxPeers: 100 });
    for (let i = 0; i < 10_000; i++) b.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(b.size, 100);
    assert.equal(b.blockedFor('10.0.0.0'), 0);
    assert.ok(b.blockedFor('10.0.39.15') > 0);
  });

  test('200 wrong passwords: 429 with a growing Retry-After, a handful of log lines', async () => {
    const h = await startHttp((c) => {
      c.api.basic_auth = { enabled: true, username: 'admin', password: 's3cret', users: {} };
      c.api.rate_limiting.requests_per_minute = 20;
      c.api.allowed_ips = ['127.0.0.0/8'];
    });
    try {
      const codes = new Map<number, number>();
      const retry: number[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await h.call('GET', '/api/temp-bans', {
          headers: { authorization: basic('admin', `g${i}`) },
        });
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
        if (r.status === 429) retry.push(Number(r.headers['retry-after']));
      }
      assert.equal(codes.get(401), 5, 'five free failures');
      assert.equal(codes.get(429), 195);
      assert.ok(retry.every((s) => s >= 1));
      const warn = h.ctx.logLines.filter((l) => /authentication|repeated authentication/.test(String(l.msg)));
      assert.ok(warn.length <= 3, `${warn.length} log lines`);
      // the back-off holds even with the right password until it ends, for loopback too
      const right = await h.call('GET', '/api/temp-bans', {
        headers: { authorization: basic('admin', 's3cret') },
      });
      assert.equal(right.status, 429);
      // another peer is not affected
      const other = await h.call('GET', '/api/temp-bans', {
        from: '127.0.0.3',
        headers: { authorization: basic('admin', 's3cret') },
      });
      assert.equal(other.status, 200);
    } finally {
      await h.close();
    }
  });

  test('loopback and authenticated callers are not rate-limited by default; others are', async () => {
    const h = await startHttp((c) => {
      c.api.rate_limiting.requests_per_minute = 5;
      c.api.allowed_ips = ['127.0.0.0/8'];
    });
    try {
      for (let i = 0; i < 12; i++) assert.equal((await h.call('GET', '/api/temp-bans')).status, 200);
      h.svc.reload({
        ...h.ctx.config,
        api: { ...h.ctx.config.api, rate_limiting: { ...h.ctx.config.api.rate_limiting, exempt: [] } },
      });
      const codes: number[] = [];
      for (let i = 0; i < 7; i++)
        codes.push((await h.call('GET', '/api/temp-bans', { from: '127.0.0.4' })).status);
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await h.close();
    }
  });

  test('a bearer-token caller outside the exempt list is not rate-limited (exempt_authenticated)', async () => {
    const h = await startHttp((c) => {
      c.api.tokens = ['tok-1'];
      c.api.rate_limiting.requests_per_minute = 3;
      c.api.rate_limiting.exempt = [];
    });
    try {
      for (let i = 0; i < 8; i++) {
        const r = await h.call('GET', '/api/temp-bans', { headers: { authorization: 'Bearer tok-1' } });
        assert.equal(r.status, 200);
      }
    } finally {
      await h.close();
    }
  });
});
