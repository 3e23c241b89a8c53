import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import type { BanEvent } from '../../src/main/engine/types.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { InvalidAddressError } from '../../src/shared/errors.js';
import { parseIp } from '../../src/shared/ip/parse.js';

const MIN = 60_000;

function setup(over: Partial<ReturnType<typeof defaultConfig>['ban']> = {}) {
  const cfg = defaultConfig();
  Object.assign(cfg.ban, over);
  let clock = Date.UTC(2026, 10, 24, 12, 0, 0);
  const metrics = new Metrics({ defaultMetrics: false });
  const { table, engine } = createCore({ config: cfg, nodeId: 'n1', now: () => clock, metrics });
  const events: BanEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const out = new LookupResult();
  const fail = (ip: string, pattern = 'dovecot') => {
    const a = parseIp(ip);
    return engine.recordFailure(a.bytes, a.family, pattern, clock);
  };
  const banned = (ip: string) => table.checkString(ip, Math.floor(clock / 1000), out) === Verdict.DENY;
  return {
    engine,
    table,
    metrics,
    events,
    fail,
    banned,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe('counting and banning', () => {
  test('five failures within the window ban; four do not', () => {
    const s = setup();
    for (let i = 0; i < 4; i++) assert.equal(s.fail('198.51.100.7'), null);
    assert.equal(s.banned('198.51.100.7'), false);
    const rec = s.fail('198.51.100.7');
    assert.ok(rec);
    assert.equal(rec.target, '198.51.100.7');
    assert.equal(rec.pattern, 'dovecot');
    assert.equal(rec.expiresAt, s.now() + 5 * MIN);
    assert.equal(s.banned('198.51.100.7'), true);
  });

  test('failures older than the window do not count', () => {
    const s = setup();
    for (let i = 0; i < 4; i++) s.fail('198.51.100.8');
    s.advance(10 * MIN + 1);
    assert.equal(s.fail('198.51.100.8'), null);
    assert.equal(s.banned('198.51.100.8'), false);
  });

  test('escalation: 5m, 10m, 20m … capped at max_ban_time; the count restarts after each ban', () => {
    const s = setup({ max_ban_time: 30 * MIN });
    const lengths: number[] = [];
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 4; i++)
        assert.equal(s.fail('203.0.113.9'), null, `count restarted before ban ${n + 1}`);
      const rec = s.fail('203.0.113.9');
      assert.ok(rec);
      lengths.push(((rec.expiresAt ?? 0) - rec.createdAt) / MIN);
      assert.equal(rec.offences, n + 1);
      s.advance(31 * MIN); // let the ban expire
    }
    assert.deepEqual(lengths, [5, 10, 20, 30]);
  });

  test('failures while banned neither extend nor escalate the ban', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.fail('192.0.2.50');
    const before = s.engine.status('192.0.2.50');
    for (let i = 0; i < 20; i++) assert.equal(s.fail('192.0.2.50'), null);
    const after = s.engine.status('192.0.2.50');
    assert.equal(after.expiresAt, before.expiresAt);
    assert.equal(after.offences, 1);
  });

  test('offence memory is forgotten max_memory_ttl after the last offence', () => {
    const s = setup({ max_memory_ttl: 60 * MIN });
    for (let i = 0; i < 5; i++) s.fail('192.0.2.60');
    s.advance(61 * MIN);
    s.engine.sweep();
    assert.ok(s.events.some((e) => e.type === 'forget' && e.target === '192.0.2.60'));
    for (let i = 0; i < 4; i++) s.fail('192.0.2.60');
    const rec = s.fail('192.0.2.60');
    assert.equal(rec?.offences, 1);
    assert.equal((rec?.expiresAt ?? 0) - (rec?.createdAt ?? 0), 5 * MIN);
  });

  test('an IPv6 attacker rotating inside one /64 is banned as the prefix', () => {
    const s = setup();
    for (let i = 1; i <= 5; i++) s.fail(`2001:db8:1:2::${i.toString(16)}`);
    assert.equal(s.banned('2001:db8:1:2:ffff::1'), true, 'another host of the /64');
    assert.equal(s.banned('2001:db8:1:3::1'), false, 'a different /64');
    assert.equal(s.engine.status('2001:db8:1:2::99').matched, '2001:db8:1:2::/64');
  });

  test('ban.ignore_ips and whitelisted addresses are never banned', () => {
    const s = setup({ ignore_ips: ['127.0.0.0/8', '10.9.0.0/16'] });
    s.engine.whitelistAdd('192.0.2.0/24', { reason: 'office' });
    for (let i = 0; i < 10; i++) {
      assert.equal(s.fail('10.9.1.1'), null);
      assert.equal(s.fail('192.0.2.77'), null);
      assert.equal(s.fail('127.0.0.1'), null);
    }
    assert.equal(s.banned('10.9.1.1'), false);
    assert.equal(s.banned('192.0.2.77'), false);
  });

  test('max_tracked caps tracked addresses, evicting the least recently seen', () => {
    const s = setup({ max_tracked: 1000 });
    for (let i = 0; i < 1500; i++) s.fail(`100.64.${i >> 8}.${i & 255}`);
    assert.equal(s.engine.trackedCount, 1000);
    assert.equal(s.engine.evictions, 500);
  });
});

describe('operations', () => {
  test('a whitelist entry hides the bans it covers; removing it brings back the unexpired ones', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.fail('198.51.100.20');
    s.engine.ban('198.51.100.30', { durationMs: 2 * MIN });
    s.engine.ban('198.51.100.40', { durationMs: 60 * MIN });
    s.engine.ban('203.0.113.1', { durationMs: 60 * MIN });
    assert.equal(s.banned('198.51.100.20'), true);
    s.events.length = 0;
    const r = s.engine.whitelistAdd('198.51.100.0/24', {});
    assert.equal(r.added, true);
    assert.equal(s.banned('198.51.100.20'), false);
    assert.equal(s.banned('198.51.100.40'), false);
    assert.equal(s.banned('203.0.113.1'), true);
    // nothing lifted: the store keeps the bans, only the whitelist entry is new
    assert.deepEqual(
      s.events.map((e) => e.type),
      ['ban'],
    );
    // hidden bans are not listed as in force
    assert.deepEqual(
      s.engine.list('temp', {}).items.map((x) => x.target),
      ['203.0.113.1'],
    );
    assert.equal(s.engine.whitelistAdd('198.51.100.0/24', {}).added, false);
    s.advance(3 * MIN);
    assert.equal(s.engine.whitelistRemove('198.51.100.0/24', {}), true);
    assert.equal(s.banned('198.51.100.20'), true, 'the log-made 5 min ban is back');
    assert.equal(s.banned('198.51.100.30'), false, 'expired while hidden');
    assert.equal(s.banned('198.51.100.40'), true);
    assert.equal(s.engine.list('temp', {}).total, 3);
    assert.equal(s.engine.activeTempBans, 4);
    assert.equal(s.engine.sweep(), 1, 'the ban that ran out while hidden goes at the sweep');
    assert.equal(s.engine.activeTempBans, 3);
  });

  test('unban lifts the temp ban of a blacklisted address and the blacklist entry', () => {
    const s = setup();
    s.engine.blacklistAdd('192.0.2.9', { reason: 'abuse' });
    s.engine.ban('192.0.2.9', { durationMs: 60 * MIN });
    assert.deepEqual(s.engine.unban('192.0.2.9', {}), { temp: true, blacklist: true });
    assert.equal(s.banned('192.0.2.9'), false);
    assert.deepEqual(s.engine.unban('192.0.2.9', {}), { temp: false, blacklist: false });
  });

  test('precedence: whitelist > blacklist > temporary ban, addresses and ranges alike', () => {
    const s = setup();
    s.engine.blacklistAdd('203.0.113.0/24', {});
    s.engine.ban('203.0.113.5', { durationMs: MIN });
    s.engine.whitelistAdd('203.0.113.5', {});
    assert.equal(s.engine.status('203.0.113.5').kind, 'whitelist');
    assert.equal(s.engine.status('203.0.113.6').kind, 'blacklist');
    assert.equal(s.engine.status('203.0.113.6').matched, '203.0.113.0/24');
  });

  test('a removed list entry can be added again', () => {
    const s = setup();
    assert.equal(s.engine.blacklistAdd('2001:db8::/32', {}).added, true);
    assert.equal(s.engine.blacklistRemove('2001:db8::/32', {}), true);
    assert.equal(s.banned('2001:db8::1'), false);
    assert.equal(s.engine.blacklistAdd('2001:DB8:0::/32', {}).added, true);
    assert.equal(s.banned('2001:db8::1'), true);
  });

  test('manual bans count as offences and default to the escalated duration', () => {
    const s = setup();
    const a = s.engine.ban('192.0.2.1', {});
    assert.equal((a.expiresAt ?? 0) - a.createdAt, 5 * MIN);
    s.advance(6 * MIN);
    const b = s.engine.ban('192.0.2.1', { reason: 'again' });
    assert.equal((b.expiresAt ?? 0) - b.createdAt, 10 * MIN);
    assert.equal(b.offences, 2);
    const c = s.engine.ban('192.0.2.1', { durationMs: 90 * MIN });
    assert.equal((c.expiresAt ?? 0) - c.createdAt, 90 * MIN);
  });

  test('purge counts only active bans; expired ones are not counted', () => {
    const s = setup();
    s.engine.ban('192.0.2.1', { durationMs: MIN });
    s.engine.ban('192.0.2.2', { durationMs: 10 * MIN });
    s.engine.ban('192.0.2.3', { durationMs: 10 * MIN });
    s.advance(2 * MIN);
    assert.equal(s.engine.purgeTempBans('test'), 2);
    assert.equal(s.banned('192.0.2.2'), false);
  });

  test('lists paginate and filter by substring or CIDR', () => {
    const s = setup();
    for (let i = 0; i < 50; i++) s.engine.blacklistAdd(`10.0.${i}.0/24`, {});
    const page = s.engine.list('blacklist', { offset: 10, limit: 5 });
    assert.equal(page.total, 50);
    assert.deepEqual(
      page.items.map((r) => r.target),
      ['10.0.10.0/24', '10.0.11.0/24', '10.0.12.0/24', '10.0.13.0/24', '10.0.14.0/24'],
    );
    assert.equal(s.engine.list('blacklist', { filter: '10.0.0.0/20' }).total, 16);
    assert.equal(s.engine.list('blacklist', { filter: '.4' }).total, 11);
  });

  test('invalid addresses are refused with E_INVALID_IP', () => {
    const s = setup();
    for (const bad of ['1.2.3', '256.1.1.1', '::1::', 'fe80::1%eth0', '', '10.0.0.0/33']) {
      assert.throws(
        () => s.engine.ban(bad, {}),
        (e: unknown) => e instanceof InvalidAddressError && e.code === 'E_INVALID_IP',
        bad,
      );
    }
  });

  test('restore puts active bans back with their remaining time and skips expired ones', () => {
    const s = setup();
    const now = s.now();
    const base = {
      reason: 'r',
      pattern: 'sshd',
      createdAt: now - MIN,
      createdBy: 'engine',
      offences: 3,
      node: 'n0',
    };
    s.engine.restore(
      [
        { ...base, target: '192.0.2.10', kind: 'temp', expiresAt: now + 7 * MIN },
        { ...base, target: '192.0.2.11', kind: 'temp', expiresAt: now - 1 },
        { ...base, target: '198.18.0.0/15', kind: 'blacklist', expiresAt: null },
      ],
      [{ target: '192.0.2.10', banCount: 3, lastOffence: now - MIN }],
    );
    assert.equal(s.banned('192.0.2.10'), true);
    assert.equal(s.engine.status('192.0.2.10').expiresAt, now + 7 * MIN);
    assert.equal(s.banned('192.0.2.11'), false);
    assert.equal(s.banned('198.19.1.1'), true);
    assert.equal(s.events.length, 0, 'restoring is not a change to persist again');
    // the restored offence memory escalates the next ban: 4th offence → 40m
    s.advance(8 * MIN);
    const rec = s.engine.ban('192.0.2.10', {});
    assert.equal(rec.offences, 4);
    assert.equal((rec.expiresAt ?? 0) - rec.createdAt, 40 * MIN);
  });

  test('sweep drops expired bans and keeps fail2ban_current_bans right', async () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.fail('192.0.2.30', 'sshd');
    s.engine.ban('192.0.2.31', { durationMs: 60 * MIN });
    let text = await s.metrics.registry.getSingleMetricAsString('fail2ban_current_bans');
    assert.match(text, /fail2ban_current_bans\{pattern="sshd"\} 1/);
    s.advance(6 * MIN);
    assert.equal(s.engine.sweep(), 1);
    text = await s.metrics.registry.getSingleMetricAsString('fail2ban_current_bans');
    assert.match(text, /fail2ban_current_bans\{pattern="sshd"\} 0/);
    assert.match(text, /fail2ban_current_bans\{pattern="manual"\} 1/);
    const bans = await s.metrics.registry.getSingleMetricAsString('fail2ban_bans_total');
    assert.match(bans, /fail2ban_bans_total\{pattern="sshd"\} 1/);
    // by jail beside it: the reference's series keep their one label
    assert.doesNotMatch(bans, /jail=/);
    const byJail = await s.metrics.registry.getSingleMetricAsString('edgeban_jail_bans_total');
    assert.match(byJail, /edgeban_jail_bans_total\{jail="default"\} 2/);
  });

  test("replaceLists swaps a source's entries without touching the operator's", () => {
    const s = setup();
    const rec = (target: string) => ({
      target,
      kind: 'blacklist' as const,
      reason: 'cfg',
      pattern: null,
      createdAt: 0,
      expiresAt: null,
      createdBy: 'config',
      offences: 0,
      node: 'n1',
    });
    s.engine.blacklistAdd('192.0.2.200', {});
    s.engine.replaceLists('config', [rec('198.51.100.0/24'), rec('192.0.2.200')]);
    assert.equal(s.banned('198.51.100.9'), true);
    s.engine.replaceLists('config', []);
    assert.equal(s.banned('198.51.100.9'), false);
    assert.equal(s.banned('192.0.2.200'), true, 'the API entry stays');
  });
});
