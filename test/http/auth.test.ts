import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type HttpHarness, startHttp } from './harness.js';

describe('/auth answers Nginx with one lookup', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp((c) => {
      // only 127.0.0.1 is a proxy here, so 127.0.0.2 is an ordinary client
      c.nginx.trusted_proxies = ['127.0.0.1/32'];
      c.nginx.mail = { imap: '127.0.0.1:1143', pop3: '', smtp: '[::1]:2525' };
    });
  });
  after(async () => h.close());

  test('allowed: 200 with the reference headers, banned: 403 with the reason', async () => {
    h.engine.ban('203.0.113.5', { reason: 'test' });
    const ok = await h.call('GET', '/auth', { headers: { 'x-original-ip': '203.0.113.6' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-fail2ban-status'], 'allowed');
    assert.equal(ok.headers['x-fail2ban-ip'], '203.0.113.6');
    assert.equal(ok.headers['x-fail2ban-service'], 'fail2ban-nginx-auth');
    const no = await h.call('POST', '/auth', {
      headers: { 'x-forwarded-for': '203.0.113.5' },
      raw: 'ignored body',
    });
    assert.equal(no.status, 403);
    assert.equal(no.headers['x-fail2ban-status'], 'denied');
    assert.equal(no.headers['x-fail2ban-ip'], '203.0.113.5');
    assert.equal(no.headers['x-fail2ban-reason'], 'test', "the ban's own reason");
    assert.equal(no.text, '');
    // Envoy's HTTP-service mode asks /auth + the original path
    const envoyStyle = await h.call('GET', '/auth/some/page?x=1', {
      headers: { 'x-original-ip': '203.0.113.5' },
    });
    assert.equal(envoyStyle.status, 403);
    assert.equal((await h.call('GET', '/authx')).status, 404);
  });

  test('every spelling of a banned IPv6 address is denied, v4-mapped is the IPv4 address', async () => {
    h.engine.ban('2001:db8::42', {});
    h.engine.ban('198.51.100.77', {});
    for (const v of ['2001:DB8:0:0:0:0:0:42', '[2001:db8::42]:443', '::ffff:198.51.100.77']) {
      const r = await h.call('GET', '/auth', { headers: { 'x-real-ip': v } });
      assert.equal(r.status, 403, v);
    }
  });

  test('a client talking to edgeban directly cannot claim another address', async () => {
    h.engine.ban('127.0.0.2', {});
    for (const header of ['x-forwarded-for', 'x-original-ip', 'x-real-ip', 'forwarded']) {
      const value = header === 'forwarded' ? 'for=127.0.0.1' : '127.0.0.1';
      const r = await h.call('GET', '/auth', { from: '127.0.0.2', headers: { [header]: value } });
      assert.equal(r.status, 403, header);
      assert.equal(r.headers['x-fail2ban-ip'], '127.0.0.2');
    }
  });

  test('an invalid address is never looked up: missing_ip_policy decides and it is counted', async () => {
    const before = h.svc.auth.counters.noAddress;
    const r = await h.call('GET', '/auth', { headers: { 'x-original-ip': '"}, {"x":"' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-fail2ban-ip'], 'unknown-ip');
    assert.equal(h.svc.auth.counters.noAddress, before + 1);
  });

  test('answers are counted in the reference metrics', async () => {
    const text = await h.ctx.metrics.registry.getSingleMetricAsString('fail2ban_requests_total');
    assert.match(text, /fail2ban_requests_total\{service="nginx",result="denied"\} [1-9]/);
    assert.match(text, /fail2ban_requests_total\{service="nginx",result="allowed"\} [1-9]/);
    assert.match(text, /fail2ban_requests_total\{service="nginx",result="no_ip"\} [1-9]/);
  });

  test('/health body and content type are the reference ones', async () => {
    const r = await h.call('GET', '/health');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.json, { status: 'healthy', service: 'fail2ban-nginx-auth' });
  });

  test('mail auth_http: allowed clients go to the protocol backend, banned ones get a temporary error', async () => {
    h.engine.ban('192.0.2.99', {});
    const mail = (ip: string, protocol: string, attempt = 1) =>
      h.call('GET', '/auth', {
        headers: {
          'auth-method': 'plain',
          'auth-user': 'u',
          'auth-pass': 'p',
          'auth-protocol': protocol,
          'auth-login-attempt': String(attempt),
          'client-ip': ip,
        },
      });
    const ok = await mail('192.0.2.1', 'imap');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['auth-status'], 'OK');
    assert.equal(ok.headers['auth-server'], '127.0.0.1');
    assert.equal(ok.headers['auth-port'], '1143');
    const smtp = await mail('192.0.2.1', 'smtp');
    assert.equal(smtp.headers['auth-server'], '::1');
    assert.equal(smtp.headers['auth-port'], '2525');
    const none = await mail('192.0.2.1', 'pop3');
    assert.notEqual(none.headers['auth-status'], 'OK', 'no POP3 backend configured');
    const banned = await mail('192.0.2.99', 'smtp');
    assert.equal(banned.status, 200);
    assert.match(String(banned.headers['auth-status']), /try again later/);
    assert.equal(banned.headers['auth-wait'], '3');
    assert.equal(banned.headers['auth-error-code'], '451 4.7.1');
    assert.equal(banned.headers['auth-server'], undefined);
    const last = await mail('192.0.2.99', 'imap', 10);
    assert.equal(last.headers['auth-wait'], undefined, 'nginx closes the session after the last attempt');
  });

  test('mail auth_http from an untrusted peer is judged by the peer, not Client-IP', async () => {
    h.engine.ban('127.0.0.3', {});
    const r = await h.call('GET', '/auth', {
      from: '127.0.0.3',
      headers: { 'auth-protocol': 'imap', 'auth-method': 'plain', 'client-ip': '192.0.2.1' },
    });
    assert.notEqual(r.headers['auth-status'], 'OK');
  });
});

describe('/auth with return_json and a deny policy', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp((c) => {
      c.nginx.return_json = true;
      c.nginx.missing_ip_policy = 'deny';
    });
  });
  after(async () => h.close());

  test('denied bodies are real JSON with application/json', async () => {
    h.engine.blacklistAdd('203.0.113.0/24', { reason: 'scanner' });
    const r = await h.call('GET', '/auth', { headers: { 'x-original-ip': '203.0.113.200' } });
    assert.equal(r.status, 403);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json.error, 'access_denied');
    assert.equal(r.json.ip, '203.0.113.200');
    assert.equal(r.json.kind, 'blacklist');
    assert.equal(r.headers['x-fail2ban-reason'], 'scanner');
    assert.equal(r.json.reason, 'scanner');
  });

  test('no usable address with missing_ip_policy: deny → 403', async () => {
    const r = await h.call('GET', '/auth', { headers: { 'x-original-ip': 'not-an-ip' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.ip, 'unknown-ip');
    // no lookup was made for this request: nothing of the previous denial leaks into it
    assert.equal(r.json.kind, null);
    assert.equal(r.json.expires_at, null);
    assert.equal(r.json.reason, 'no usable client address');
  });
});

describe('forwarding headers from an untrusted peer', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp((c) => {
      c.nginx.trusted_proxies = ['127.0.0.1/32'];
    });
  });
  after(async () => h.close());

  test('are ignored, counted in a metric and logged once (throttled)', async () => {
    h.engine.ban('127.0.0.2', { reason: 'x' });
    for (let i = 0; i < 20; i++) {
      const r = await h.call('GET', '/auth', {
        from: '127.0.0.2',
        headers: { 'x-original-ip': '198.51.100.1', 'x-forwarded-for': '198.51.100.1' },
      });
      assert.equal(r.status, 403, 'judged by its own address');
    }
    const plain = await h.call('GET', '/auth', { from: '127.0.0.2' });
    assert.equal(plain.status, 403);
    const text = await h.ctx.metrics.registry.metrics();
    assert.match(text, /^edgeban_http_untrusted_forwarding_total 20$/m);
    const lines = h.ctx.logLines.filter((l) => String(l.msg).includes('outside nginx.trusted_proxies'));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].peer, '127.0.0.2');
    // the trusted proxy's headers are believed and not counted
    const viaProxy = await h.call('GET', '/auth', { headers: { 'x-original-ip': '198.51.100.1' } });
    assert.equal(viaProxy.status, 200);
    assert.match(await h.ctx.metrics.registry.metrics(), /^edgeban_http_untrusted_forwarding_total 20$/m);
  });
});

describe('ban reasons as header values', () => {
  test('control characters, quotes and non-ASCII are replaced, the length bounded', async () => {
    const { headerSafeReason } = await import('../../src/shared/verdict.js');
    assert.equal(headerSafeReason('  brute force on imap  '), 'brute force on imap');
    assert.equal(headerSafeReason('a\r\nSet-Cookie: x'), 'a??Set-Cookie: x');
    assert.equal(headerSafeReason('say "hi" \\ é\u0000'), "say 'hi' / ??");
    assert.equal(headerSafeReason('x'.repeat(1000)).length, 200);
    assert.equal(headerSafeReason(null), '');
  });
});
