import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authClient, check, headersOf, request, startEnvoy } from './helpers.js';

describe('envoy ext_authz Check (client built from our .proto)', () => {
  let env: Awaited<ReturnType<typeof startEnvoy>>;
  let client: ReturnType<typeof authClient>;
  before(async () => {
    env = await startEnvoy();
    env.ban('203.0.113.9', 'dovecot-auth-failure');
    env.ban('2001:db8::66');
    env.ban('203.0.113.10', `a\r\nSet-Cookie: "x" \\ é\u0000${'y'.repeat(400)}`);
    env.ban('203.0.113.11', '');
    env.blacklist('198.51.100.0/24');
    env.whitelist('198.51.100.77');
    client = authClient(env.port);
  });
  after(async () => {
    client.close();
    await env.server.close();
  });

  test('an allowed address gets OK with x-fail2ban-status: allowed in ok_response', async () => {
    const r = await check(client, request('192.0.2.10'));
    assert.equal(r.status?.code, 0);
    assert.equal(r.http_response, 'ok_response');
    assert.deepEqual(headersOf(r.ok_response?.headers), { 'x-fail2ban-status': 'allowed' });
  });

  test('a banned address gets PERMISSION_DENIED with a 403 denied_response, headers and body', async () => {
    const r = await check(client, request('203.0.113.9'));
    assert.equal(r.status?.code, 7);
    assert.match(r.status?.message ?? '', /^IP is banned due to suspicious activity/);
    assert.match(r.status?.message ?? '', /dovecot-auth-failure/);
    assert.equal(r.http_response, 'denied_response');
    assert.equal(r.denied_response?.status.code, 403);
    const h = headersOf(r.denied_response?.headers);
    assert.equal(h['x-fail2ban-status'], 'denied');
    assert.equal(h['x-fail2ban-ip'], '203.0.113.9');
    // the ban's own reason in the header; the body keeps the fixed text
    assert.equal(h['x-fail2ban-reason'], 'dovecot-auth-failure');
    assert.match(h['content-type'], /^text\/plain/);
    assert.equal(r.denied_response?.body, 'Access denied: IP banned due to suspicious activity\n');
  });

  test("x-fail2ban-reason is the ban's own reason, header-safe and bounded as Nginx's", async () => {
    const hostile = headersOf((await check(client, request('203.0.113.10'))).denied_response?.headers);
    const reason = hostile['x-fail2ban-reason'];
    assert.match(reason, /^a\?\?Set-Cookie: 'x' \/ \?\?y+$/);
    assert.ok(reason.length <= 200, `${reason.length} characters`);
    assert.match(reason, /^[\x20-\x7e]+$/);
    // no reason recorded: the reference's fixed text
    const none = headersOf((await check(client, request('203.0.113.11'))).denied_response?.headers);
    assert.equal(none['x-fail2ban-reason'], 'IP banned due to suspicious activity');
  });

  test('a blacklisted range denies; a whitelisted address inside it is allowed', async () => {
    const denied = await check(client, request('198.51.100.5'));
    assert.equal(denied.status?.code, 7);
    const ok = await check(client, request('198.51.100.77'));
    assert.equal(ok.status?.code, 0);
  });

  test('IPv6 and v4-mapped sources are looked up as the same client', async () => {
    assert.equal((await check(client, request('2001:db8::66'))).status?.code, 7);
    assert.equal((await check(client, request('2001:0db8:0:0::66'))).status?.code, 7);
    assert.equal((await check(client, request('2001:db8::67'))).status?.code, 0);
    const mapped = await check(client, request('::ffff:203.0.113.9'));
    assert.equal(mapped.status?.code, 7);
    assert.equal(headersOf(mapped.denied_response?.headers)['x-fail2ban-ip'], '203.0.113.9');
  });

  test('x-forwarded-for and x-real-ip are ignored when headers are not trusted', async () => {
    // a banned client claiming to be someone else stays banned
    const spoof = await check(
      client,
      request('203.0.113.9', { headers: { 'x-forwarded-for': '192.0.2.1' } }),
    );
    assert.equal(spoof.status?.code, 7);
    const spoof2 = await check(client, request('203.0.113.9', { headers: { 'x-real-ip': '192.0.2.1' } }));
    assert.equal(spoof2.status?.code, 7);
    // a clean client cannot get someone else banned either
    const frame = await check(
      client,
      request('192.0.2.10', { headers: { 'x-forwarded-for': '203.0.113.9' } }),
    );
    assert.equal(frame.status?.code, 0);
  });

  test('the destination address is never used', async () => {
    const req = request(null) as { attributes: { destination: unknown } };
    req.attributes.destination = { address: { socket_address: { address: '203.0.113.9', port_value: 1 } } };
    const r = await check(client, req);
    assert.equal(r.status?.code, 0, 'no source: policy allow, not the banned destination');
  });

  test('the network filter (no http attributes) gets a bare status', async () => {
    const denied = await check(client, request('203.0.113.9', { network: true }));
    assert.equal(denied.status?.code, 7);
    assert.equal(denied.http_response, undefined);
    const ok = await check(client, request('192.0.2.10', { network: true }));
    assert.equal(ok.status?.code, 0);
    assert.equal(ok.http_response, undefined);
  });

  test('malformed requests are answered by the missing-address policy and counted', async () => {
    const before = env.server.handler.counters.noAddress;
    assert.equal((await check(client, {})).status?.code, 0, 'no attributes');
    assert.equal((await check(client, request(null))).status?.code, 0, 'no source');
    for (const bad of ['', 'not-an-ip', '999.1.1.1', '1.2.3', 'fe80::1%eth0', '1.2.3.4:80', '\u0000\u00ff']) {
      const r = await check(client, request(bad));
      assert.equal(r.status?.code, 0, JSON.stringify(bad));
    }
    const pipe = await check(client, {
      attributes: { source: { address: { pipe: { path: '/run/x.sock' } } } },
    });
    assert.equal(pipe.status?.code, 0);
    assert.equal(env.server.handler.counters.noAddress - before, 10);
  });

  test('a huge header map is answered', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) headers[`x-h-${i}`] = 'v'.repeat(100);
    const r = await check(client, request('203.0.113.9', { headers }));
    assert.equal(r.status?.code, 7);
    const map: [string, string][] = Object.entries(headers);
    const r2 = await check(client, request('192.0.2.10', { headerMap: map }));
    assert.equal(r2.status?.code, 0);
  });

  test('metrics: fail2ban_service_requests_total and the duration histogram for service="envoy"', async () => {
    const text = await env.metrics.registry.metrics();
    // the verdict statuses every proxy shares (a check without an address follows the policy)
    assert.match(text, /fail2ban_service_requests_total\{service="envoy",status="allowed"\} [1-9]/);
    assert.match(text, /fail2ban_service_requests_total\{service="envoy",status="denied"\} [1-9]/);
    assert.match(text, /fail2ban_service_requests_total\{service="envoy",status="error"\} \d/);
    assert.match(text, /fail2ban_requests_total\{service="envoy",result="denied"\} [1-9]/);
    assert.match(text, /fail2ban_requests_total\{service="envoy",result="allowed"\} [1-9]/);
    assert.match(text, /fail2ban_service_request_duration_seconds_count\{service="envoy"\} [1-9]/);
  });
});

describe('envoy ext_authz with trusted forwarding headers', () => {
  let env: Awaited<ReturnType<typeof startEnvoy>>;
  let client: ReturnType<typeof authClient>;
  before(async () => {
    env = await startEnvoy({ envoy: { trust_headers: true, trusted_proxies: ['10.0.0.0/8', '127.0.0.1'] } });
    env.ban('203.0.113.9');
    env.ban('10.1.1.1'); // a banned proxy address must never be what is looked up for its clients
    client = authClient(env.port);
  });
  after(async () => {
    client.close();
    await env.server.close();
  });

  test('from a trusted proxy, the right-most untrusted x-forwarded-for hop is the client', async () => {
    const r = await check(
      client,
      request('10.0.0.5', { headers: { 'x-forwarded-for': '192.0.2.1, 203.0.113.9, 10.0.0.7' } }),
    );
    assert.equal(r.status?.code, 7);
    assert.equal(headersOf(r.denied_response?.headers)['x-fail2ban-ip'], '203.0.113.9');
    // a spoofed left-most hop does not help the banned client
    const r2 = await check(
      client,
      request('10.0.0.5', { headers: { 'x-forwarded-for': '192.0.2.1,203.0.113.9' } }),
    );
    assert.equal(r2.status?.code, 7);
    // and a clean client is not judged by what it wrote on the left
    const r3 = await check(
      client,
      request('10.0.0.5', { headers: { 'x-forwarded-for': '203.0.113.9, 192.0.2.2' } }),
    );
    assert.equal(r3.status?.code, 0);
  });

  test('repeated x-forwarded-for entries in header_map are read in order', async () => {
    const r = await check(
      client,
      request('10.0.0.5', {
        headerMap: [
          ['X-Forwarded-For', '192.0.2.1'],
          ['x-forwarded-for', '203.0.113.9'],
        ],
      }),
    );
    assert.equal(r.status?.code, 7);
  });

  test('x-real-ip is used from a trusted proxy when there is no x-forwarded-for', async () => {
    const r = await check(client, request('10.0.0.5', { headers: { 'x-real-ip': '203.0.113.9' } }));
    assert.equal(r.status?.code, 7);
  });

  test('headers from an untrusted source are ignored', async () => {
    const r = await check(client, request('192.0.2.50', { headers: { 'x-forwarded-for': '203.0.113.9' } }));
    assert.equal(r.status?.code, 0);
    const r2 = await check(client, request('203.0.113.9', { headers: { 'x-forwarded-for': '192.0.2.1' } }));
    assert.equal(r2.status?.code, 7);
  });

  test('a garbage hop gives no address (policy), never the proxy', async () => {
    const before = env.server.handler.counters.noAddress;
    const r = await check(client, request('10.1.1.1', { headers: { 'x-forwarded-for': 'garbage' } }));
    assert.equal(r.status?.code, 0);
    assert.equal(env.server.handler.counters.noAddress - before, 1);
  });
});

describe('envoy ext_authz options', () => {
  test('deny_status, JSON body, allowed_headers off, missing_ip_policy deny', async () => {
    const env = await startEnvoy({
      envoy: { deny_status: 429, allowed_headers: false, missing_ip_policy: 'deny' },
      nginx: { return_json: true },
    });
    env.ban('203.0.113.9');
    const client = authClient(env.port);
    try {
      const d = await check(client, request('203.0.113.9'));
      assert.equal(d.denied_response?.status.code, 429);
      assert.equal(headersOf(d.denied_response?.headers)['content-type'], 'application/json');
      const body = JSON.parse(d.denied_response?.body ?? '');
      assert.equal(body.error, 'access_denied');
      assert.equal(body.ip, '203.0.113.9');
      assert.equal(body.kind, 'temp');
      assert.ok(Date.parse(body.expires_at) > Date.now());
      const ok = await check(client, request('192.0.2.10'));
      assert.equal(ok.status?.code, 0);
      assert.equal(ok.http_response, undefined, 'no ok_response when allowed_headers is off');
      const missing = await check(client, request('nonsense'));
      assert.equal(missing.status?.code, 7);
      assert.equal(headersOf(missing.denied_response?.headers)['x-fail2ban-ip'], 'unknown-ip');
    } finally {
      client.close();
      await env.server.close();
    }
  });

  test('reload applies new envoy.* settings to the next checks', async () => {
    const env = await startEnvoy();
    env.ban('203.0.113.9');
    const client = authClient(env.port);
    try {
      const spoof = request('127.0.0.1', { headers: { 'x-forwarded-for': '203.0.113.9' } });
      assert.equal((await check(client, spoof)).status?.code, 0);
      const next = structuredClone(env.config);
      next.envoy.trust_headers = true;
      next.envoy.deny_status = 451;
      env.server.reload(next);
      const r = await check(client, spoof);
      assert.equal(r.status?.code, 7);
      assert.equal(r.denied_response?.status.code, 451);
    } finally {
      client.close();
      await env.server.close();
    }
  });
});
