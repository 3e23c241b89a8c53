import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { FailureTrackers, RING_CAP } from '../../src/main/engine/trackers.js';

const v4 = (n: number) => new Uint8Array([10, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const T0 = Date.UTC(2026, 0, 1);

describe('failure trackers', () => {
  test('a full table evicts the least recently seen address and keeps the rest counting', () => {
    const t = new FailureTrackers(1000, 5, 60_000);
    for (let i = 0; i < 1000; i++) t.record(v4(i), 4, T0);
    t.record(v4(0), 4, T0 + 1); // seen again: now the most recent
    for (let i = 1000; i < 1500; i++) t.record(v4(i), 4, T0 + 2);
    assert.equal(t.size, 1000);
    assert.equal(t.evictions, 500);
    assert.equal(t.failures(v4(0), 4, T0 + 3), 2, 'the address seen again survived');
    assert.equal(t.failures(v4(1), 4, T0 + 3), 0, 'the oldest went first');
    assert.equal(t.failures(v4(501), 4, T0 + 3), 1);
  });

  test('a flood of 200k distinct addresses through a 1000-slot table stays bounded', () => {
    const t = new FailureTrackers(1000, 5, 60_000);
    const attacker = new Uint8Array([192, 0, 2, 1]);
    let n = 0;
    for (let i = 0; i < 200_000; i++) {
      t.record(v4(i), 4, T0 + i);
      if (i % 100 === 0) n = t.record(attacker, 4, T0 + i);
    }
    assert.equal(t.size, 1000);
    assert.equal(t.evictions, 200_000 + 1 - 1000);
    // touched every 100 insertions, the attacker is never the oldest: its count keeps growing
    assert.ok(n >= 5, `attacker counted ${n}`);
  });

  test('the sweep walks a bounded number of slots per call and drops idle addresses', () => {
    const t = new FailureTrackers(10_000, 5, 60_000);
    for (let i = 0; i < 10_000; i++) t.record(v4(i), 4, T0);
    t.record(v4(7), 4, T0 + 50_000);
    let calls = 0;
    while (!t.sweepSome(T0 + 70_000, 1000)) calls++;
    assert.equal(calls, 9, '10k slots in slices of 1000');
    assert.equal(t.size, 1);
    assert.equal(t.failures(v4(7), 4, T0 + 70_000), 1);
  });

  test('IPv4 and IPv6 keys with the same low word do not collide', () => {
    const t = new FailureTrackers(16, 5, 60_000);
    const six = new Uint8Array(16);
    six.set([10, 0, 0, 1], 12);
    t.record(v4(1), 4, T0);
    t.record(six, 6, T0);
    t.record(six, 6, T0);
    assert.equal(t.failures(new Uint8Array([10, 0, 0, 1]), 4, T0), 1);
    assert.equal(t.failures(six, 6, T0), 2);
  });

  test(`max_attempts above ${RING_CAP} still bans, never before that many failures in the window`, () => {
    const t = new FailureTrackers(16, 100, 60_000);
    const a = v4(1);
    let n = 0;
    for (let i = 0; i < 99; i++) n = t.record(a, 4, T0 + i * 10);
    assert.equal(n, 99);
    assert.equal(t.record(a, 4, T0 + 990), 100);
    // failures spread wider than the window are not all counted
    const b = v4(2);
    for (let i = 0; i < 150; i++) n = t.record(b, 4, T0 + i * 1000);
    assert.ok(n <= 61, `counted ${n} of the failures in the last 60 s`);
  });

  test('a lower max_attempts keeps the newest times; a higher one keeps them all', () => {
    const t = new FailureTrackers(16, 5, 60_000);
    const a = v4(1);
    for (let i = 0; i < 4; i++) t.record(a, 4, T0 + i);
    t.setPolicy(2, 60_000);
    assert.equal(t.failures(a, 4, T0 + 10), 2);
    t.setPolicy(8, 60_000);
    assert.equal(t.failures(a, 4, T0 + 10), 2);
    assert.equal(t.record(a, 4, T0 + 11), 3);
  });

  test('times a month apart are never mistaken for recent ones', () => {
    const t = new FailureTrackers(16, 5, 600_000);
    const a = v4(1);
    for (let i = 0; i < 4; i++) t.record(a, 4, T0 + i);
    // 2^32 ms (about 49.7 days) later the wrapped times would look fresh without the era check
    const later = T0 + 2 ** 32 + 5;
    assert.equal(t.failures(a, 4, later), 0);
    assert.equal(t.record(a, 4, later), 1);
  });

  test('a flood of one-shot addresses does not push out addresses that keep failing, however slowly', () => {
    // 10 one-shots per slot, and each attacker fails once a round with more one-shots between its
    // failures than the table holds: least-recently-seen alone forgets every attacker each round
    const capacity = 250_000;
    // a fresh layout each run, named in the failure so that it can be replayed
    const seed = randomInt(2 ** 32);
    const t = new FailureTrackers(capacity, 6, 3_600_000, seed);
    const rounds = 8;
    const per = Math.floor((10 * capacity) / (rounds * 200));
    const attacker = new Uint8Array([198, 18, 0, 0]);
    const one = new Uint8Array(4);
    const best = new Uint8Array(200);
    let i = 0;
    let wrongOneShot = 0;
    for (let r = 0; r < rounds; r++)
      for (let a = 0; a < 200; a++) {
        attacker[3] = a;
        const n = t.record(attacker, 4, T0 + r);
        if (n > best[a]) best[a] = n;
        for (let k = 0; k < per; k++, i++) {
          one[0] = 11 + (i >>> 24);
          one[1] = (i >>> 16) & 255;
          one[2] = (i >>> 8) & 255;
          one[3] = i & 255;
          if (t.record(one, 4, T0 + r) !== 1) wrongOneShot++;
        }
      }
    assert.ok(per * 200 > capacity, 'an attacker is out of sight for more than a table of one-shots');
    const reached = best.filter((n) => n >= 6).length;
    assert.equal(reached, 200, `${reached} of 200 attackers counted 6 failures (seed ${seed})`);
    // never more than the failures really seen: rounds, at most
    assert.ok(Math.max(...best) <= rounds);
    assert.equal(wrongOneShot, 0, 'a one-shot address is never counted more than once');
    assert.equal(t.size, capacity);
    // every one-shot past the first table-full found no room (an attacker's failure may have)
    assert.ok(t.evictions >= i - capacity && t.evictions <= i + rounds * 200 - capacity);
    assert.ok(t.rejected > 0 && t.rejected <= t.evictions);
  });

  test('an address seen again after its eviction wins a slot back and counts from then on', () => {
    const t = new FailureTrackers(1000, 5, 60_000);
    const a = new Uint8Array([192, 0, 2, 9]);
    assert.equal(t.record(a, 4, T0), 1);
    for (let i = 0; i < 5000; i++) t.record(v4(i), 4, T0 + 1);
    assert.equal(t.failures(a, 4, T0 + 2), 0, 'pushed out by the first lap of one-shots');
    assert.equal(t.record(a, 4, T0 + 3), 1);
    for (let i = 5000; i < 10_000; i++) t.record(v4(i), 4, T0 + 4);
    assert.equal(t.failures(a, 4, T0 + 5), 1, 'seen twice: it keeps its slot through the next lap');
    assert.equal(t.record(a, 4, T0 + 6), 2);
  });

  test('IPv6 keys longer than /64 are told apart, before and after the first one arrives', () => {
    const t = new FailureTrackers(8, 5, 60_000);
    const net = new Uint8Array(16);
    net.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);
    const host = (n: number) => {
      const b = net.slice();
      b[15] = n;
      return b;
    };
    t.record(net, 6, T0); // a /64 key, tracked before any longer one
    t.record(host(1), 6, T0);
    t.record(host(1), 6, T0);
    t.record(host(2), 6, T0);
    assert.equal(t.failures(net, 6, T0), 1);
    assert.equal(t.failures(host(1), 6, T0), 2);
    assert.equal(t.failures(host(2), 6, T0), 1);
    assert.equal(t.failures(host(3), 6, T0), 0);
    assert.ok(t.remove(host(1), 6));
    assert.equal(t.failures(host(1), 6, T0), 0);
    assert.equal(t.failures(net, 6, T0), 1);
    // a full table of long keys evicts and reuses their slots cleanly
    for (let i = 10; i < 40; i++) t.record(host(i), 6, T0 + i);
    assert.equal(t.size, 8);
    assert.equal(t.failures(host(39), 6, T0 + 40), 1);
    assert.equal(t.failures(new Uint8Array([32, 1, 13, 184]), 4, T0 + 40), 0);
  });
});
