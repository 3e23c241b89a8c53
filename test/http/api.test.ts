import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type HttpHarness, startHttp } from './harness.js';

describe('REST API routes', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp();
  });
  after(async () => h.close());

  test('POST /api/ban takes "1h30m" or seconds and answers durations as text and seconds', async () => {
    const a = await h.call('POST', '/api/ban', {
      body: { ip_address: '198.51.100.1', duration: '1h30m', reason: 'probe' },
    });
    assert.equal(a.status, 200);
    assert.equal(a.json.success, true);
    assert.equal(a.json.message, 'IP 198.51.100.1 temporarily banned for 1h30m0s');
    assert.equal(a.json.duration_seconds, 5400);
    const b = await h.call('POST', '/api/ban', { body: { ip_address: '198.51.100.2', duration: 90 } });
    assert.equal(b.json.duration, '1m30s');
    assert.equal(h.engine.status('198.51.100.1').banned, true);
    assert.equal(h.engine.status('198.51.100.1').reason, 'probe');
  });

  test('POST /api/ban canonicalises the address and accepts CIDRs', async () => {
    const a = await h.call('POST', '/api/ban', { body: { ip_address: '2001:DB8:0::7' } });
    assert.equal(a.json.ip_address, '2001:db8::7');
    const b = await h.call('POST', '/api/ban', { body: { ip_address: '192.0.2.0/28' } });
    assert.equal(b.status, 200);
    assert.equal(h.engine.status('192.0.2.9').banned, true);
  });

  test('permanent: true blacklists; a second time says already blacklisted', async () => {
    const a = await h.call('POST', '/api/ban', { body: { ip_address: '203.0.113.50', permanent: true } });
    assert.equal(a.json.message, 'IP 203.0.113.50 permanently banned (blacklisted)');
    const b = await h.call('POST', '/api/ban', { body: { ip_address: '203.0.113.50', permanent: true } });
    assert.equal(b.json.message, 'IP 203.0.113.50 is already blacklisted');
    assert.equal(h.engine.status('203.0.113.50').kind, 'blacklist');
  });

  test('invalid bodies are 4xx naming the field, never 500', async () => {
    const cases: [unknown, RegExp][] = [
      [{ ip_address: '1.2.3' }, /invalid IP address: 1\.2\.3/],
      [{ ip_address: '10.0.0.0/33' }, /invalid IP address/],
      [{ ip_address: 5 }, /body\.ip_address: must be string/],
      [{ ip_address: '1.1.1.1', duration: -1 }, /body\.duration: must not be negative/],
      [{ ip_address: '1.1.1.1', duration: '100000h' }, /body\.duration: must be at most/],
      [{ ip_address: '1.1.1.1', duration: 'soon' }, /body\.duration/],
      [{ ip_address: '1.1.1.1', duration: true }, /body\.duration: must be a duration string/],
      [{ ip_address: '1.1.1.1', permanent: 'yes' }, /body\.permanent: must be boolean/],
      [{ ip_address: '1.1.1.1', colour: 'red' }, /body\.colour: unknown field/],
      [{}, /body\.ip_address: required/],
      [[1, 2], /body: must be object/],
    ];
    for (const [body, re] of cases) {
      const r = await h.call('POST', '/api/ban', { body });
      assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body)} → ${r.status}`);
      assert.equal(r.json.success, false);
      assert.match(String(r.json.message), re, JSON.stringify(body));
    }
    const bad = await h.call('POST', '/api/ban', {
      raw: '{"ip_address":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
    const big = await h.call('POST', '/api/ban', {
      body: { ip_address: '1.1.1.1', reason: 'x'.repeat(100_000) },
    });
    assert.equal(big.status, 413);
    const long = await h.call('POST', '/api/ban', {
      body: { ip_address: '1.1.1.1', reason: 'x'.repeat(600) },
    });
    assert.match(String(long.json.message), /body\.reason: must NOT have more than 512 characters/);
  });

  test('every route that takes a body refuses bad ones with a 4xx naming the field, never a 500', async () => {
    const routes: ['POST' | 'PUT' | 'DELETE', string][] = [
      ['POST', '/api/unban'],
      ['POST', '/api/whitelist'],
      ['DELETE', '/api/whitelist'],
      ['POST', '/api/blacklist'],
      ['DELETE', '/api/blacklist'],
    ];
    const bodies: [unknown, RegExp][] = [
      [{ ip_address: 42 }, /body\.ip_address: must be string/],
      [{ ip_address: '300.1.1.1' }, /invalid IP address: 300\.1\.1\.1/],
      [{ ip_address: '10.0.0.0/40' }, /invalid IP address: 10\.0\.0\.0\/40/],
      [{ ip_address: '2001:db8::/129' }, /invalid IP address/],
      [{ ip_address: '1.2.3.4', extra: true }, /body\.extra: unknown field/],
      [{ ip_address: '1.2.3.4', reason: 7 }, /body\.reason: must be string/],
    ];
    for (const [method, path] of routes) {
      for (const [body, re] of bodies) {
        const r = await h.call(method, path, { body });
        assert.ok(
          r.status >= 400 && r.status < 500,
          `${method} ${path} ${JSON.stringify(body)} → ${r.status}`,
        );
        assert.match(String(r.json.message), re, `${method} ${path} ${JSON.stringify(body)}`);
      }
    }
    const cfg = await h.call('PUT', '/api/ban-config', { body: { max_attempts: 'five', time_window: -3 } });
    assert.equal(cfg.status, 400);
    assert.match(String(cfg.json.message), /body\.max_attempts: must be integer/);
    const empty = await h.call('PUT', '/api/ban-config', { body: {} });
    assert.equal(empty.status, 400);
  });

  test('unban lifts a temporary ban even when the address is also blacklisted', async () => {
    h.engine.ban('192.0.2.200', {});
    h.engine.blacklistAdd('192.0.2.200', {});
    const r = await h.call('POST', '/api/unban', { body: { ip_address: '192.0.2.200' } });
    assert.equal(r.json.message, 'IP 192.0.2.200 removed from blacklist and temporary bans');
    assert.equal(h.engine.status('192.0.2.200').banned, false);
    const again = await h.call('POST', '/api/unban', { body: { ip_address: '192.0.2.200' } });
    assert.equal(again.json.success, true);
    assert.equal(again.json.was_banned, false);
  });

  test('whitelisting lifts a current ban; a removed entry can be added again', async () => {
    h.engine.ban('100.64.1.1', {});
    const w = await h.call('POST', '/api/whitelist', {
      body: { ip_address: '100.64.0.0/16', reason: 'office' },
    });
    assert.equal(w.json.message, 'IP 100.64.0.0/16 added to whitelist');
    assert.equal(h.engine.status('100.64.1.1').banned, false);
    const dup = await h.call('POST', '/api/whitelist', { body: { ip_address: '100.64.0.0/16' } });
    assert.equal(dup.json.message, 'IP 100.64.0.0/16 is already whitelisted');
    const del = await h.call('DELETE', '/api/whitelist', { body: { ip_address: '100.64.0.0/16' } });
    assert.equal(del.json.removed, true);
    const re = await h.call('POST', '/api/whitelist', { body: { ip_address: '100.64.0.0/16' } });
    assert.equal(re.json.added, true);
    const byQuery = await h.call('DELETE', '/api/whitelist?ip_address=100.64.0.0/16');
    assert.equal(byQuery.json.removed, true);
    const list = await h.call('GET', '/api/whitelist');
    assert.equal(list.json.count, 0);
    assert.equal(list.json.whitelist, undefined, 'the reference omits an empty list');
  });

  test('lists page and filter', async () => {
    for (let i = 0; i < 30; i++) h.engine.blacklistAdd(`10.9.${i}.1`, { reason: `r${i}` });
    const page = await h.call('GET', '/api/blacklist?offset=5&limit=10');
    assert.equal((page.json.blacklist as unknown[]).length, 10);
    assert.ok(Number(page.json.count) >= 30);
    const filtered = await h.call('GET', '/api/blacklist?filter=10.9.0.0/16&limit=100');
    assert.equal(filtered.json.count, 30);
    const badLimit = await h.call('GET', '/api/blacklist?limit=0');
    assert.equal(badLimit.status, 400);
    assert.match(String(badLimit.json.message), /querystring\.limit/);
  });

  test('POST /api/blacklist and DELETE /api/blacklist', async () => {
    const a = await h.call('POST', '/api/blacklist', { body: { ip_address: '2001:db8:bad::/48' } });
    assert.equal(a.status, 200);
    assert.equal(h.engine.status('2001:db8:bad::1').banned, true);
    const d = await h.call('DELETE', '/api/blacklist', { body: { ip_address: '2001:db8:bad::/48' } });
    assert.equal(d.json.removed, true);
    assert.equal(h.engine.status('2001:db8:bad::1').banned, false);
  });

  test('GET /api/bans/{ip}, /api/temp-bans, purge, radix-stats', async () => {
    h.engine.ban('198.18.0.1', { durationMs: 600_000, reason: 'why' });
    const s = await h.call('GET', '/api/bans/198.18.0.1');
    assert.equal(s.json.banned, true);
    assert.equal(s.json.reason, 'why');
    assert.equal(s.json.kind, 'temp');
    assert.ok(Number(s.json.duration_remaining_seconds) > 590);
    const bad = await h.call('GET', '/api/bans/nope');
    assert.equal(bad.status, 400);
    const t = await h.call('GET', '/api/temp-bans?filter=198.18.0.1');
    const item = (t.json.temp_bans as Record<string, unknown>[])[0];
    assert.match(String(item.duration_remaining), /^\d+m\d+s$/);
    const stats = await h.call('GET', '/api/radix-stats');
    assert.ok(Number((stats.json.stats as Record<string, number>).currently_banned) >= 1);
    const p = await h.call('POST', '/api/purge-bans');
    assert.match(String(p.json.message), /^Purged \d+ temporary bans$/);
    assert.equal(h.engine.status('198.18.0.1').banned, false);
  });

  test('ban-config: read, change with validation, next ban uses it', async () => {
    const bad = await h.call('PUT', '/api/ban-config', { body: { escalation_factor: 0.5 } });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.message), /escalation_factor/);
    const bad2 = await h.call('PUT', '/api/ban-config', {
      body: { initial_ban_time: '2h', max_ban_time: '1h' },
    });
    assert.equal(bad2.status, 400);
    const ok = await h.call('PUT', '/api/ban-config', { body: { initial_ban_time: '7m' } });
    assert.equal(ok.status, 200);
    assert.equal((ok.json.ban_config as Record<string, unknown>).initial_ban_time_seconds, 420);
    const r = await h.call('POST', '/api/ban', { body: { ip_address: '198.18.1.1' } });
    assert.equal(r.json.duration, '7m0s');
  });

  test('patterns need the store: 503 with a message without one; status endpoints say file', async () => {
    const p = await h.call('GET', '/api/patterns');
    assert.equal(p.status, 503);
    const src = await h.call('GET', '/config/source');
    assert.equal(src.json.patterns_source, 'file');
    const db = await h.call('GET', '/database/status');
    assert.equal(db.json.connected, false);
  });

  test('OpenAPI document and docs page', async () => {
    const doc = await h.call('GET', '/api/openapi.json');
    assert.equal(doc.status, 200);
    const paths = Object.keys(doc.json.paths as object);
    for (const p of [
      '/api/ban',
      '/api/unban',
      '/api/whitelist',
      '/api/blacklist',
      '/api/temp-bans',
      '/api/bans/{ip}',
      '/api/patterns',
      '/api/ban-config',
      '/api/events',
    ]) {
      assert.ok(paths.includes(p), p);
    }
    type Op = {
      requestBody?: {
        content: Record<string, { schema: { properties: Record<string, { example?: unknown }> } }>;
      };
      responses: Record<string, unknown>;
    };
    const pathsObj = doc.json.paths as Record<string, Record<string, Op>>;
    assert.equal((doc.json.info as { version: string }).version, '0.1.0', "the package's version");
    const ban = pathsObj['/api/ban'].post;
    const props = ban.requestBody?.content['application/json'].schema.properties ?? {};
    assert.equal(props.ip_address.example, '203.0.113.7', 'real examples, not type placeholders');
    assert.equal(props.duration.example, '1h30m');
    for (const code of ['400', '401', '403', '413', '429'])
      assert.ok(ban.responses[code], `POST /api/ban ${code}`);
    const list = pathsObj['/api/temp-bans'].get;
    for (const code of ['400', '401', '403', '429'])
      assert.ok(list.responses[code], `GET /api/temp-bans ${code}`);
    assert.equal(list.responses['413'], undefined, 'no body, no 413');
    const ui = await h.call('GET', '/api/docs/');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger/i);
  });

  test('the docs page answers for itself only: paths that climb out of it reach no API route', async () => {
    h.engine.ban('192.0.2.77', { durationMs: 3_600_000, reason: 'docs probe' });
    // sent as written (node:http does not resolve dot segments the way URL parsers do)
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: h.port, path, method: 'GET' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of [
      '/api/docs/../temp-bans',
      '/api/docs/%2e%2e/temp-bans',
      '/api/docs/static/../../temp-bans',
      '/api/docs/static/%2e%2e/%2e%2e/temp-bans',
      '/api/docs//api/temp-bans',
    ]) {
      const r = await raw(path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.body, /192\.0\.2\.77/, path);
    }
    // the page's own files, the same bytes when served again from memory
    const a = await h.call('GET', '/api/docs/static/swagger-ui-bundle.js');
    const b = await h.call('GET', '/api/docs/static/swagger-ui-bundle.js');
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /javascript/);
    assert.ok(a.text.length > 100_000);
    assert.equal(b.text, a.text);
    const c = await h.call('GET', '/api/docs/static/swagger-ui-bundle.js?v=2');
    assert.equal(c.text, a.text, 'a query does not change the file');
    assert.equal((await h.call('POST', '/api/docs/json')).status, 404, 'GET only');
    // one name per file: the spellings a static server would resolve to it are not the page's
    for (const path of [
      '/api/docs/static/./swagger-ui-bundle.js',
      '/api/docs/static/x/../swagger-ui-bundle.js',
      '/api/docs/static/%73wagger-ui-bundle.js',
      '/api/docs/static/swagger-ui-bundle%2ejs',
    ])
      assert.equal((await raw(path)).status, 404, path);
    // a burst for one file, answered alike
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => h.call('GET', '/api/docs/static/swagger-ui.css')),
    );
    assert.ok(burst.every((r) => r.status === 200 && r.text === burst[0].text && r.text.length > 10_000));
  });

  test('unknown paths are 404, as the reference', async () => {
    const r = await h.call('GET', '/api/nothing');
    assert.equal(r.status, 404);
  });
});
