import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BanRecord } from '../../src/main/engine/types.js';
import { ipv4U32, SubnetBans } from '../../src/main/jails/subnet.js';
import { DEFAULT_JAIL } from '../../src/main/jails/types.js';
import { engineOnClock, HOUR, jail, MIN, settle } from './harness.js';

const subnetJail = (addresses: number, prefixV4 = 24) =>
  jail({ name: DEFAULT_JAIL, subnet: { prefixV4, addresses, window: HOUR } });

/** Three failures of `ip`: banned by the default jail (the `ban:` policy). */
function banFromLogs(e: ReturnType<typeof engineOnClock>, ip: string): void {
  for (let i = 0; i < 3; i++) e.fail(ip);
  assert.equal(e.banned(ip), true, `${ip} banned by its log lines`);
}

function record(target: string, at: number, jailName = DEFAULT_JAIL): BanRecord {
  return {
    target,
    kind: 'temp',
    reason: 'x',
    pattern: 'p',
    createdAt: at,
    expiresAt: at + 10 * MIN,
    createdBy: 'engine',
    offences: 1,
    node: 'n1',
    jail: jailName,
  };
}

describe('subnet aggregation', () => {
  test('a /24 is banned once N distinct addresses in it are banned, not before', async () => {
    const e = engineOnClock();
    const s = new SubnetBans({ engine: e.engine, metrics: e.metrics });
    s.update([subnetJail(4)]);
    for (const last of [1, 2, 3]) banFromLogs(e, `203.0.113.${last}`);
    // the same address again (its ban ran out) is not a fourth one
    e.advance(11 * MIN);
    banFromLogs(e, '203.0.113.3');
    await settle();
    assert.equal(e.banned('203.0.113.200'), false, 'three distinct addresses: the prefix is free');
    assert.equal(s.count(DEFAULT_JAIL, '203.0.113.99', e.now()), 3);
    banFromLogs(e, '203.0.113.4');
    await settle();
    assert.equal(e.banned('203.0.113.200'), true, 'the whole /24 is banned');
    assert.equal(e.banned('203.0.114.1'), false, 'its neighbour is not');
    const prefixBans = e.events.filter((x) => x.type === 'ban' && x.record.target.includes('/'));
    assert.equal(prefixBans.length, 1);
    const r = prefixBans[0].type === 'ban' ? prefixBans[0].record : null;
    assert.equal(r?.target, '203.0.113.0/24');
    assert.equal(r?.reason, 'subnet: 4 addresses of 203.0.113.0/24 banned');
    assert.equal(r?.createdBy, 'engine');
    assert.match(
      await e.metrics.registry.metrics(),
      /edgeban_subnet_bans_total\{jail="default",shadow="false"\} 1/,
    );
    s.stop();
  });

  test('bans further apart than the window do not add up', async () => {
    const e = engineOnClock();
    const s = new SubnetBans({ engine: e.engine });
    s.update([subnetJail(3)]);
    banFromLogs(e, '192.0.2.1');
    banFromLogs(e, '192.0.2.2');
    e.advance(HOUR + MIN);
    banFromLogs(e, '192.0.2.3');
    await settle();
    assert.equal(e.banned('192.0.2.77'), false);
    assert.equal(s.count(DEFAULT_JAIL, '192.0.2.0', e.now()), 1);
    s.stop();
  });

  test('IPv6 bans are left alone', async () => {
    const e = engineOnClock();
    const s = new SubnetBans({ engine: e.engine });
    s.update([subnetJail(2)]);
    // two /64s of one /48, banned per /64 by the engine already
    banFromLogs(e, '2001:db8:1:1::5');
    banFromLogs(e, '2001:db8:1:2::5');
    banFromLogs(e, '2001:db8:1:3::5');
    await settle();
    assert.equal(e.banned('2001:db8:1:4::1'), false);
    assert.equal(s.size(), 0);
    assert.equal(e.events.filter((x) => x.type === 'ban').length, 3);
    s.stop();
  });

  test("a configurable prefix; only that jail's bans count", async () => {
    const made: string[] = [];
    const engine = {
      ban: (target: string) => {
        made.push(target);
        return record(target, 0);
      },
      onEvent: () => () => {},
    };
    const s = new SubnetBans({ engine });
    s.update([jail({ name: 'sshd', subnet: { prefixV4: 16, addresses: 3, window: HOUR } })]);
    s.observe(record('10.20.1.1', 1));
    s.observe(record('10.20.2.1', 2, 'nginx'));
    s.observe(record('10.20.3.1', 3, 'sshd'));
    s.observe(record('10.20.4.1/32', 4, 'sshd'));
    s.observe(record('10.20.5.0/24', 5, 'sshd'));
    await settle();
    assert.deepEqual(made, []);
    s.observe(record('10.20.255.9', 6, 'sshd'));
    await settle();
    assert.deepEqual(made, ['10.20.0.0/16']);
  });

  test('memory stays at the cap under a million distinct prefixes', () => {
    const cap = 5_000;
    const s = new SubnetBans({
      engine: { ban: () => record('x', 0), onEvent: () => () => {} },
      maxTargets: cap,
    });
    s.update([subnetJail(8)]);
    for (let i = 0; i < 1_000_000; i++)
      s.observe(record(`${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}.1`, i));
    assert.equal(s.size(), cap);
  });

  test('reads IPv4 targets without allocating', () => {
    assert.equal(ipv4U32('1.2.3.4'), 0x01020304);
    assert.equal(ipv4U32('255.255.255.255/32'), 0xffffffff);
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.0/24', '::1', '', '1..2.3'])
      assert.equal(ipv4U32(bad), -1, bad);
  });
});
