import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { FailureAggregates } from '../../src/main/fleet/aggregates.js';
import { decodeCounts, encodeCounts } from '../../src/main/fleet/count-messages.js';
import { fleetKey, MAX_PAYLOAD } from '../../src/main/fleet/messages.js';
import { parseIp } from '../../src/shared/ip/parse.js';

const key = fleetKey('s3cret');
const now = 1_800_000_000_000;

describe('fleet counting messages', () => {
  test('round trip: jail names, targets, weights and times', () => {
    const [p] = encodeCounts(
      key,
      'edge-a',
      ['sshd', 'default'],
      [
        [0, '192.0.2.1', 3, now - 40],
        [1, '2001:db8::/64', 1, now],
      ],
      now,
    );
    assert.deepEqual(decodeCounts(key, p, now), {
      node: 'edge-a',
      failures: [
        { jail: 'sshd', target: '192.0.2.1', weight: 3, at: now - 40 },
        { jail: 'default', target: '2001:db8::/64', weight: 1, at: now },
      ],
    });
  });

  test('a large interval is split into payloads under the NOTIFY limit, none lost', () => {
    const entries = Array.from({ length: 2000 }, (_, i) => [0, `10.0.${i >> 8}.${i & 255}`, 1, now] as const);
    const payloads = encodeCounts(key, 'edge-a', ['sshd'], entries, now);
    assert.ok(payloads.length > 1);
    for (const p of payloads) assert.ok(Buffer.byteLength(p) <= MAX_PAYLOAD, `${Buffer.byteLength(p)} bytes`);
    const all = payloads.flatMap((p) => decodeCounts(key, p, now).failures.map((f) => f.target));
    assert.deepEqual(
      all,
      entries.map((e) => e[1]),
    );
  });

  test('forged, replayed, ban-signed or malformed payloads are refused whole', () => {
    const [good] = encodeCounts(key, 'edge-a', ['sshd'], [[0, '192.0.2.1', 3, now]], now);
    assert.throws(() => decodeCounts(fleetKey('other'), good, now), /bad signature/);
    assert.throws(() => decodeCounts(key, good, now + 61_000), /too old/);
    assert.throws(() => decodeCounts(key, good.replace('192.0.2.1', '192.0.2.2'), now), /bad signature/);
    assert.deepEqual(encodeCounts(key, 'x', [], [], now), [], 'nothing to send, no payload');
    // a good body with one field made bad
    const altered = (f: string, jails: string) =>
      good
        .slice(44)
        .replace('"jails":["sshd"]', `"jails":${jails}`)
        .replace(/"f":\[.*\]\}$/, `"f":${f}}`);
    for (const [f, jails, why] of [
      ['[[1,"192.0.2.1",1,0]]', '["sshd"]', /unknown jail index/],
      ['[[0,"not an ip",1,0]]', '["sshd"]', /invalid target/],
      ['[[0,"192.0.2.1",0,0]]', '["sshd"]', /bad weight/],
      ['[[0,"192.0.2.1",1.5,0]]', '["sshd"]', /bad weight/],
      ['[[0,"192.0.2.1",1,999999]]', '["sshd"]', /bad time/],
      ['[[0,"192.0.2.1",1]]', '["sshd"]', /not a list of 4/],
      ['[]', '[1]', /jail names/],
    ] as const) {
      // signed as a fleet member would: only the content checks are left to refuse it
      const resigned = signedBody(altered(f, jails));
      assert.throws(() => decodeCounts(key, resigned, now), why, f);
    }
  });

  test('sums per (jail, target) in a bounded table; new pairs past the cap are refused', () => {
    const a = new FailureAggregates(2);
    const ip = (s: string) => parseIp(s).bytes;
    assert.equal(a.add(0, ip('192.0.2.1'), 4, 32, 1, 10), true);
    assert.equal(a.add(0, ip('192.0.2.1'), 4, 32, 2, 30), true);
    assert.equal(a.add(1, ip('192.0.2.1'), 4, 32, 1, 20), true);
    assert.equal(a.add(0, ip('192.0.2.2'), 4, 32, 1, 20), false, 'full: a new pair is refused');
    assert.equal(a.add(0, ip('192.0.2.1'), 4, 32, 1, 25), true, 'a known pair still adds up');
    assert.equal(a.size, 2);
    assert.deepEqual([a.jail[0], a.weight[0], a.last[0]], [0, 4, 30]);
    assert.deepEqual([a.jail[1], a.weight[1], a.last[1]], [1, 1, 20]);
    a.clear();
    assert.equal(a.add(0, ip('192.0.2.2'), 4, 32, 1, 40), true);
    assert.equal(a.size, 1);
  });
});

/** A body signed with the fleet key as count messages are. */
function signedBody(body: string): string {
  const sig = createHmac('sha256', key).update('edgeban-counts\0').update(body).digest('base64url');
  return `${sig}.${body}`;
}
