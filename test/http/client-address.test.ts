import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CidrFilter } from '../../src/shared/ip/cidr-filter.js';
import { parseHop, resolveClientAddress } from '../../src/shared/ip/forwarding.js';
import { formatIp } from '../../src/shared/ip/parse.js';

const trusted = new CidrFilter(['127.0.0.0/8', '::1/128', '10.0.0.0/8']);

function client(headers: Record<string, string>, peer = '127.0.0.1'): string | null {
  const out = new Uint8Array(16);
  const fam = resolveClientAddress(headers, peer, trusted, out);
  return fam === 0 ? null : formatIp(out, fam);
}

describe('client address for /auth', () => {
  test('a port is digits only: a single-address header holding a list is no address', () => {
    assert.equal(client({ 'x-original-ip': '203.0.113.9:1,198.51.100.7' }), null);
    assert.equal(client({ 'x-real-ip': '[2001:db8::1]junk' }), null);
    assert.equal(client({ 'x-real-ip': '203.0.113.9:443' }), '203.0.113.9');
    assert.equal(client({ 'x-real-ip': '[2001:db8::1]:443' }), '2001:db8::1');
  });

  test('headers are ignored when the peer is not a trusted proxy', () => {
    assert.equal(
      client({ 'x-forwarded-for': '127.0.0.1', 'x-original-ip': '1.1.1.1' }, '192.0.2.7'),
      '192.0.2.7',
    );
    assert.equal(client({ 'x-real-ip': '1.1.1.1' }, '::ffff:192.0.2.8'), '192.0.2.8');
  });

  test('the reference order: X-Original-IP, X-Forwarded-For, X-Real-IP, X-Client-IP, CF-Connecting-IP, Forwarded', () => {
    const all = {
      'x-original-ip': '1.1.1.1',
      'x-forwarded-for': '2.2.2.2',
      'x-real-ip': '3.3.3.3',
      'x-client-ip': '4.4.4.4',
      'cf-connecting-ip': '5.5.5.5',
      forwarded: 'for=6.6.6.6',
    };
    const order = [
      'x-original-ip',
      'x-forwarded-for',
      'x-real-ip',
      'x-client-ip',
      'cf-connecting-ip',
      'forwarded',
    ];
    for (let i = 0; i < order.length; i++) {
      const h: Record<string, string> = {};
      for (const k of order.slice(i)) h[k] = all[k as keyof typeof all];
      assert.equal(client(h), `${i + 1}.${i + 1}.${i + 1}.${i + 1}`, `from ${order[i]}`);
    }
    assert.equal(client({}), '127.0.0.1', 'no header: the peer itself');
  });

  test('X-Forwarded-For: the right-most untrusted hop, whatever the client wrote on the left', () => {
    assert.equal(client({ 'x-forwarded-for': '127.0.0.1, 203.0.113.9' }), '203.0.113.9');
    assert.equal(client({ 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.1.1' }), '203.0.113.9');
    assert.equal(client({ 'x-forwarded-for': '10.0.0.2, 10.0.0.1' }), '10.0.0.2', 'all trusted: left-most');
    assert.equal(client({ 'x-forwarded-for': 'garbage, 203.0.113.9' }), '203.0.113.9');
    assert.equal(
      client({ 'x-forwarded-for': '203.0.113.9, garbage' }),
      null,
      'an invalid hop stops the walk',
    );
  });

  test('RFC 7239 Forwarded with quotes, ports and IPv6 brackets', () => {
    assert.equal(client({ forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' }), '192.0.2.60');
    assert.equal(client({ forwarded: 'for="[2001:db8:cafe::17]:4711"' }), '2001:db8:cafe::17');
    assert.equal(client({ forwarded: 'for=198.51.100.1, for="10.0.0.5:80"' }), '198.51.100.1');
    assert.equal(client({ forwarded: 'for=unknown' }), null);
    assert.equal(client({ forwarded: 'proto=https' }), null);
  });

  test('invalid addresses are never used: no fallback to the proxy address', () => {
    for (const bad of ['1.2.3', '256.1.1.1', '::1::', 'fe80::1%eth0', 'abc', ' ', '1.2.3.4/24']) {
      assert.equal(client({ 'x-original-ip': bad }), null, bad);
    }
  });

  test('hops: IPv4 with port, IPv6 in brackets, v4-mapped, blanks', () => {
    const out = new Uint8Array(16);
    const hop = (s: string) => {
      const f = parseHop(s, 0, s.length, out);
      return f === 0 ? null : formatIp(out, f);
    };
    assert.equal(hop(' 1.2.3.4:8080 '), '1.2.3.4');
    assert.equal(hop('[2001:DB8::1]:443'), '2001:db8::1');
    assert.equal(hop('[2001:db8::1]'), '2001:db8::1');
    assert.equal(hop('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(hop('[1.2.3.4]'), null);
    assert.equal(hop('1.2.3.4:80:90'), null);
  });
});
