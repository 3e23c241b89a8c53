import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixOf, RecentBans } from '../../src/main/console/recent.js';
import { SampleRing, SERIES } from '../../src/main/console/samples.js';

test('the sample ring keeps the newest `capacity` samples in order, whatever was pushed', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 200 }), (capacity, n) => {
      const ring = new SampleRing(capacity);
      const row = new Float64Array(SERIES.length);
      for (let i = 1; i <= n; i++) {
        row.fill(i);
        ring.push(i * 1000, row);
      }
      const got = ring.since(0);
      const kept = Math.min(n, capacity);
      assert.equal(got.t.length, kept);
      assert.deepEqual(
        got.t,
        Array.from({ length: kept }, (_, k) => (n - kept + 1 + k) * 1000),
      );
      for (const s of SERIES)
        assert.deepEqual(
          got.series[s],
          got.t.map((t) => t / 1000),
        );
      assert.equal(ring.since((n - 1) * 1000).t.length, n > 0 && kept > 0 ? 1 : 0);
    }),
    { seed: 20261202, numRuns: 200 },
  );
});

test('prefixes are the /24 of IPv4 and the /64 of IPv6, wherever the zeros are compressed', () => {
  assert.equal(prefixOf('198.51.100.7'), '198.51.100.0/24');
  assert.equal(prefixOf('2001:db8::1:2:3:4:5'), '2001:db8:0:1::/64');
  assert.equal(prefixOf('2001:db8::1'), '2001:db8::/64');
  assert.equal(prefixOf('10.0.0.0/8'), '10.0.0.0/8');
});

test('recent bans: newest first, bounded, and the top lists count the last hour only', () => {
  const r = new RecentBans(3);
  const ban = (ip: string, at: number) =>
    r.add({
      type: 'ban',
      at,
      ip,
      kind: 'temp',
      reason: 'x',
      pattern: 'sshd',
      expiresAt: at + 60_000,
      by: 'engine',
      offences: 1,
      node: 'n',
      origin: 'local',
      jail: 'default',
    });
  const t0 = 1_800_000_000_000;
  ban('198.51.100.1', t0);
  ban('198.51.100.2', t0 + 1);
  ban('203.0.113.5', t0 + 2);
  ban('198.51.100.1', t0 + 3);
  assert.deepEqual(
    r.latest(10).map((e) => e.ip),
    ['198.51.100.1', '203.0.113.5', '198.51.100.2'],
  );
  assert.deepEqual(
    r.latest(10, '198.51.100.1').map((e) => e.at),
    [t0 + 3],
  );
  assert.deepEqual(r.tops(2).prefixes, [
    { prefix: '198.51.100.0/24', bans: 3 },
    { prefix: '203.0.113.0/24', bans: 1 },
  ]);
  assert.deepEqual(r.tops(1).offenders, [{ ip_address: '198.51.100.1', bans: 2 }]);
  r.expire(t0 + 3600_000 + 120_000);
  assert.deepEqual(r.tops(5).prefixes, []);
});
