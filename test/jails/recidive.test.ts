import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BanRecord } from '../../src/main/engine/types.js';
import { Recidive } from '../../src/main/jails/recidive.js';
import { retainedHeap } from '../helpers/heap.js';
import { DAY, engineOnClock, HOUR, jail, MIN, settle } from './harness.js';

const WEEK = 7 * DAY;
const recidiveJail = jail({
  name: 'recidive',
  source: 'bans',
  maxAttempts: 3,
  timeWindow: DAY,
  initialBanTime: WEEK,
  maxBanTime: 4 * WEEK,
});

/** Ban `ip` through its log lines: three failures, then wait the ban out. */
function banFromLogs(e: ReturnType<typeof engineOnClock>, ip: string): BanRecord {
  let ban: BanRecord | null = null;
  for (let i = 0; i < 3 && !ban; i++) ban = e.fail(ip);
  assert.ok(ban, `${ip} banned by its log lines`);
  return ban;
}

function record(target: string, jailName: string, at: number, over: Partial<BanRecord> = {}): BanRecord {
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
    ...over,
  };
}

describe('recidive', () => {
  test("three bans of other jails within its window ban the address for the recidive jail's time", async () => {
    const e = engineOnClock();
    const r = new Recidive({ engine: e.engine, metrics: e.metrics });
    // the engine knows the jail it bans for (as the app's jails are given to both)
    e.engine.setJails([recidiveJail]);
    r.update([jail({ name: 'sshd' }), recidiveJail]);
    const ip = '198.51.100.7';
    for (let n = 1; n <= 2; n++) {
      const ban = banFromLogs(e, ip);
      await settle();
      assert.equal(r.count('recidive', ip, e.now()), n);
      // the ban from the logs, nothing longer
      assert.ok(e.lookup(ip).expiresAt - e.now() / 1000 <= (3 * HOUR) / 1000);
      e.advance((ban.expiresAt ?? 0) - e.now() + 1000);
      assert.equal(e.banned(ip), false, 'the log ban ran out');
    }
    const third = banFromLogs(e, ip);
    await settle();
    const recidive = e.events
      .filter((x) => x.type === 'ban')
      .map((x) => x.record)
      .filter((b) => b.reason.startsWith('recidive:'));
    assert.equal(recidive.length, 1, 'one recidive ban');
    assert.equal(recidive[0].target, ip);
    assert.equal(recidive[0].reason, 'recidive: 3 bans in 24h');
    assert.equal(recidive[0].createdBy, 'engine');
    assert.equal((recidive[0].expiresAt ?? 0) - recidive[0].createdAt, WEEK);
    // past the third log ban's end, still banned, until the week is over
    e.advance((third.expiresAt ?? 0) - e.now() + HOUR);
    assert.equal(e.banned(ip), true);
    e.advance(WEEK);
    assert.equal(e.banned(ip), false);
    const metrics = await e.metrics.registry.metrics();
    assert.match(metrics, /edgeban_recidive_bans_total\{jail="recidive",shadow="false"\} 1/);
    r.stop();
  });

  test('bans spread wider than the window, or only two, do not ban', async () => {
    const e = engineOnClock();
    const r = new Recidive({ engine: e.engine });
    r.update([recidiveJail]);
    const ip = '198.51.100.8';
    for (let n = 0; n < 3; n++) {
      const ban = banFromLogs(e, ip);
      e.advance((ban.expiresAt ?? 0) - e.now() + 13 * HOUR); // 3 bans over more than a day
    }
    await settle();
    assert.equal(
      e.events.filter((x) => x.type === 'ban' && x.record.reason.startsWith('recidive')).length,
      0,
    );
    assert.equal(r.count('recidive', ip, e.now()), 1, 'only the last ban is still in the window');
    r.stop();
  });

  test('escalates: the second recidive ban lasts the jail time times its factor', () => {
    const seen: { target: string; durationMs?: number; jail?: string }[] = [];
    const engine = {
      ban: (target: string, o: { durationMs?: number; jail?: string }) => {
        seen.push({ target, durationMs: o.durationMs, jail: o.jail });
        return record(target, o.jail ?? 'x', 0);
      },
      onEvent: () => () => {},
    };
    const r = new Recidive({ engine });
    r.update([recidiveJail]);
    let t = 0;
    for (let i = 0; i < 6; i++) {
      t += HOUR;
      r.observe(record('192.0.2.1', 'sshd', t));
    }
    return settle().then(() => {
      assert.deepEqual(seen, [
        { target: '192.0.2.1', durationMs: WEEK, jail: 'recidive' },
        { target: '192.0.2.1', durationMs: 2 * WEEK, jail: 'recidive' },
      ]);
    });
  });

  test('counts the source jails only, never its own bans, shadow bans or a duplicate of a ban in force', () => {
    const made: string[] = [];
    const engine = {
      ban: (target: string) => {
        made.push(target);
        return record(target, 'recidive', 0);
      },
      onEvent: () => () => {},
    };
    const r = new Recidive({ engine });
    r.update([{ ...recidiveJail, sourceJails: ['sshd', 'postfix'] }]);
    const ip = '192.0.2.9';
    r.observe(record(ip, 'nginx', 1));
    r.observe(record(ip, 'recidive', 2));
    r.observe(record(ip, 'sshd', 3, { shadow: true }));
    r.observe(record(ip, 'sshd', 4, { kind: 'blacklist', expiresAt: null }));
    assert.equal(r.count('recidive', ip, 10), 0);
    r.observe(record(ip, 'sshd', 5));
    // the same sshd ban, another node's copy: counted once
    r.observe(record(ip, 'sshd', 7, { node: 'n2' }));
    assert.equal(r.count('recidive', ip, 10), 1);
    r.observe(record(ip, 'postfix', 8));
    assert.equal(r.count('recidive', ip, 10), 2);
    // once the first sshd ban is over, a new one is a new offence
    r.observe(record(ip, 'sshd', 5 + 10 * MIN + 1));
    assert.equal(r.count('recidive', ip, 20 * MIN), 0, 'the count starts again after the recidive ban');
    return settle().then(() => assert.deepEqual(made, [ip]));
  });

  test('every other jail counts when sourceJails is empty, except recidive jails', () => {
    const r = new Recidive({ engine: { ban: () => record('x', 'x', 0), onEvent: () => () => {} } });
    r.update([recidiveJail, jail({ name: 'recidive-month', source: 'bans', timeWindow: 30 * DAY })]);
    r.observe(record('192.0.2.10', 'recidive-month', 1));
    r.observe(record('192.0.2.10', 'default', 2));
    r.observe(record('192.0.2.10', 'anything', 3));
    assert.equal(r.count('recidive', '192.0.2.10', 10), 2);
    assert.equal(r.count('recidive-month', '192.0.2.10', 10), 2, 'recidive, its own, does not count either');
  });

  test('a shadow recidive jail reports the ban and makes none', async () => {
    const e = engineOnClock();
    const r = new Recidive({ engine: e.engine, metrics: e.metrics });
    r.update([{ ...recidiveJail, mode: 'shadow' }]);
    const ip = '198.51.100.9';
    for (let n = 0; n < 3; n++) {
      const ban = banFromLogs(e, ip);
      e.advance((ban.expiresAt ?? 0) - e.now() + 1000);
    }
    await settle();
    assert.equal(e.banned(ip), false);
    assert.match(
      await e.metrics.registry.metrics(),
      /edgeban_recidive_bans_total\{jail="recidive",shadow="true"\} 1/,
    );
    r.stop();
  });

  test('update keeps the counts of a jail whose threshold and window stay, drops a removed one', () => {
    const r = new Recidive({ engine: { ban: () => record('x', 'x', 0), onEvent: () => () => {} } });
    r.update([recidiveJail]);
    r.observe(record('192.0.2.11', 'sshd', 1));
    r.update([{ ...recidiveJail, initialBanTime: 2 * WEEK }]);
    assert.equal(r.count('recidive', '192.0.2.11', 10), 1);
    r.update([{ ...recidiveJail, timeWindow: 2 * DAY }]);
    assert.equal(r.count('recidive', '192.0.2.11', 10), 0);
    r.update([]);
    assert.equal(r.size(), 0);
  });

  test('memory stays at the cap under a million distinct targets', () => {
    const cap = 10_000;
    const r = new Recidive({
      engine: { ban: () => record('x', 'x', 0), onEvent: () => () => {} },
      maxTargets: cap,
    });
    r.update([recidiveJail]);
    const before = retainedHeap();
    let at = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const ip = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      at += 1;
      r.observe(record(ip, 'sshd', at));
      if (i === cap) assert.equal(r.size(), cap);
    }
    assert.equal(r.size(), cap);
    // the most recent targets are the ones kept
    assert.equal(r.count('recidive', '10.15.66.63', at), 1);
    assert.equal(r.count('recidive', '10.0.0.1', at), 0);
    const grown = retainedHeap() - before;
    // 10k kept targets retain ~1.3 MB; a million would retain over a hundred
    assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${grown} bytes`);
  });
});
