import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import { UnknownJailError } from '../../src/main/engine/errors.js';
import type { BanEvent } from '../../src/main/engine/types.js';
import { DEFAULT_JAIL, type JailSpec } from '../../src/main/jails/types.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { jail } from '../helpers/jails.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** The jails of the scenario: sshd (3 in 10 min, 1 h), nginx-botsearch (20 in 1 min, 10 min, http), mail (5, imap+smtp). */
const JAILS = [
  jail('sshd', { patterns: ['sshd-*'] }),
  jail('nginx-botsearch', {
    patterns: ['nginx-botsearch'],
    maxAttempts: 20,
    timeWindow: MIN,
    initialBanTime: 10 * MIN,
    services: ['http'],
  }),
  jail('mail', { patterns: ['dovecot', 'postfix-sasl'], maxAttempts: 5, services: ['imap', 'smtp'] }),
];

function setup(jails: JailSpec[] = JAILS) {
  const cfg = defaultConfig();
  let clock = Date.UTC(2026, 10, 24, 12, 0, 0);
  const metrics = new Metrics({ defaultMetrics: false });
  const { table, engine } = createCore({ config: cfg, nodeId: 'n1', now: () => clock, metrics });
  engine.setJails(jails);
  const events: BanEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const out = new LookupResult();
  const fail = (ip: string, pattern: string, line?: string) => {
    const a = parseIp(ip);
    return engine.recordFailure(a.bytes, a.family, pattern, clock, line);
  };
  /** Denied for a request naming `service` (none: every ban counts). */
  const denied = (ip: string, service?: string) =>
    table.checkString(
      ip,
      Math.floor(clock / 1000),
      out,
      service === undefined ? undefined : table.services.lookup(service),
    ) === Verdict.DENY;
  return {
    engine,
    table,
    metrics,
    events,
    fail,
    denied,
    out,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe('jails: counting per jail', () => {
  test('3 sshd failures ban; 3 nginx-botsearch do not, 20 do; each with its jail and duration', () => {
    const s = setup();
    assert.equal(s.fail('192.0.2.1', 'sshd-auth'), null);
    assert.equal(s.fail('192.0.2.1', 'sshd-auth'), null);
    const ssh = s.fail('192.0.2.1', 'sshd-invalid-user');
    assert.ok(ssh, 'the third sshd failure bans');
    assert.equal(ssh.jail, 'sshd');
    assert.deepEqual(ssh.services, []);
    assert.equal(ssh.expiresAt, s.now() + HOUR);
    assert.ok(s.denied('192.0.2.1'));

    for (let i = 0; i < 3; i++) assert.equal(s.fail('192.0.2.2', 'nginx-botsearch'), null);
    assert.equal(s.denied('192.0.2.2'), false, 'three probes are under the web jail threshold');
    let web = null;
    for (let i = 3; i < 20; i++) web = s.fail('192.0.2.2', 'nginx-botsearch');
    assert.ok(web, 'the twentieth probe bans');
    assert.equal(web.jail, 'nginx-botsearch');
    assert.deepEqual(web.services, ['http']);
    assert.equal(web.expiresAt, s.now() + 10 * MIN);
  });

  test('unclaimed patterns count in the default jail with the ban: policy (5 failures)', () => {
    const s = setup();
    for (let i = 0; i < 4; i++) assert.equal(s.fail('192.0.2.3', 'apache-auth'), null);
    const r = s.fail('192.0.2.3', 'apache-auth');
    assert.ok(r);
    assert.equal(r.jail, DEFAULT_JAIL);
    assert.equal(r.expiresAt, s.now() + 5 * MIN);
  });

  test('a disabled jail counts nothing for the patterns it claims', () => {
    const s = setup([jail('sshd', { patterns: ['sshd-*'], enabled: false })]);
    for (let i = 0; i < 10; i++) assert.equal(s.fail('192.0.2.4', 'sshd-auth'), null);
    assert.equal(s.denied('192.0.2.4'), false);
  });

  test('the first jail by name claims a pattern that two name', () => {
    const s = setup([
      jail('b-second', { patterns: ['sshd-auth'], maxAttempts: 1 }),
      jail('a-first', { patterns: ['sshd-*'], maxAttempts: 2 }),
    ]);
    assert.equal(s.fail('192.0.2.5', 'sshd-auth'), null, 'a-first needs 2');
    assert.equal(s.fail('192.0.2.5', 'sshd-auth')?.jail, 'a-first');
  });

  test('weight severity counts the pattern severity, capped at max_attempts', () => {
    const s = setup([jail('web', { patterns: ['scan-*'], maxAttempts: 10, weight: 'severity' })]);
    s.engine.setPatterns([
      { name: 'scan-heavy', severity: 4 },
      { name: 'scan-huge', severity: 50 },
    ]);
    assert.equal(s.fail('192.0.2.6', 'scan-heavy'), null);
    assert.equal(s.fail('192.0.2.6', 'scan-heavy'), null);
    assert.equal(s.engine.status('192.0.2.6').jails?.find((j) => j.jail === 'web')?.failures, 8);
    assert.ok(s.fail('192.0.2.6', 'scan-heavy'), '4 + 4 + 4 reaches 10');
    assert.ok(s.fail('192.0.2.7', 'scan-huge'), 'one line of severity 50 counts 10, and bans');
  });

  test('a success pattern clears the address count in its jail only', () => {
    const s = setup([
      jail('sshd', { patterns: ['sshd-*'] }),
      jail('mail', { patterns: ['dovecot'], maxAttempts: 3 }),
    ]);
    s.engine.setPatterns([{ name: 'sshd-accepted', success: true }, { name: 'sshd-auth' }]);
    s.fail('192.0.2.8', 'sshd-auth');
    s.fail('192.0.2.8', 'sshd-auth');
    s.fail('192.0.2.8', 'dovecot');
    s.fail('192.0.2.8', 'dovecot');
    assert.equal(s.fail('192.0.2.8', 'sshd-accepted'), null);
    const st = s.engine.status('192.0.2.8').jails ?? [];
    assert.equal(st.find((j) => j.jail === 'sshd')?.failures, 0, 'the login reset sshd');
    assert.equal(st.find((j) => j.jail === 'mail')?.failures, 2, 'mail keeps its count');
    assert.equal(s.fail('192.0.2.8', 'sshd-auth'), null, 'counting starts again');
    assert.equal(s.fail('192.0.2.8', 'sshd-auth'), null);
    assert.ok(s.fail('192.0.2.8', 'sshd-auth'));
  });

  test('failure listeners hear the jail, target and weight of each counted failure', () => {
    const s = setup();
    const heard: string[] = [];
    s.engine.onFailure((j, t, fam, plen, w) =>
      heard.push(`${j} ${t.slice(0, 4).join('.')} ${fam}/${plen} ${w}`),
    );
    s.fail('192.0.2.9', 'sshd-auth');
    s.fail('192.0.2.9', 'nginx-botsearch');
    assert.deepEqual(heard, ['sshd 192.0.2.9 4/32 1', 'nginx-botsearch 192.0.2.9 4/32 1']);
  });

  test('remote failures count in their jail, toward that jail threshold', () => {
    const s = setup();
    assert.equal(s.engine.recordRemoteFailures('sshd', '192.0.2.10', 2, s.now()), null);
    assert.equal(s.engine.recordRemoteFailures('nosuch', '192.0.2.10', 5, s.now()), null);
    const r = s.fail('192.0.2.10', 'sshd-auth');
    assert.ok(r, '2 remote + 1 local reach 3');
    assert.equal(r.jail, 'sshd');
  });
});

describe('jails: scoped bans', () => {
  test('a mail-only ban denies IMAP and SMTP, allows HTTP, denies a request naming no service', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.fail('198.51.100.1', 'dovecot');
    assert.ok(s.denied('198.51.100.1', 'imap'));
    assert.ok(s.denied('198.51.100.1', 'smtp'));
    assert.equal(s.denied('198.51.100.1', 'http'), false);
    assert.ok(s.denied('198.51.100.1'), 'no service named: every ban counts');
    assert.equal(s.out.kind, 1);
  });

  test('an address banned by the mail jail is still counted by sshd, and sshd bans it everywhere', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.fail('198.51.100.2', 'dovecot');
    assert.equal(s.denied('198.51.100.2', 'ssh'), false);
    s.fail('198.51.100.2', 'sshd-auth');
    s.fail('198.51.100.2', 'sshd-auth');
    assert.ok(s.fail('198.51.100.2', 'sshd-auth'));
    assert.ok(s.denied('198.51.100.2', 'ssh'));
    assert.ok(s.denied('198.51.100.2', 'http'));
    // banned everywhere now: the mail jail does not count (its ban is covered) nor extend
    assert.equal(s.fail('198.51.100.2', 'dovecot'), null);
  });

  test('an everywhere ban stops the scoped jails from counting', () => {
    const s = setup();
    for (let i = 0; i < 3; i++) s.fail('198.51.100.3', 'sshd-auth');
    for (let i = 0; i < 25; i++) assert.equal(s.fail('198.51.100.3', 'nginx-botsearch'), null);
  });

  test('two jails with different scopes and expiries; lifting one keeps the other', () => {
    const s = setup();
    const web = s.engine.ban('198.51.100.4', { jail: 'nginx-botsearch', durationMs: 10 * MIN });
    const mail = s.engine.ban('198.51.100.4', { jail: 'mail', durationMs: HOUR });
    assert.deepEqual(web.services, ['http']);
    assert.deepEqual(mail.services, ['imap', 'smtp']);
    assert.equal(s.engine.list('temp', {}).total, 2, 'one ban per jail');
    assert.ok(s.denied('198.51.100.4', 'http'));
    assert.ok(s.denied('198.51.100.4', 'imap'));
    assert.equal(s.denied('198.51.100.4', 'ssh'), false);
    assert.deepEqual(s.engine.unban('198.51.100.4', { jail: 'nginx-botsearch' }), {
      temp: true,
      blacklist: false,
    });
    assert.equal(s.denied('198.51.100.4', 'http'), false, 'the web ban is lifted');
    assert.ok(s.denied('198.51.100.4', 'imap'), 'the mail ban stays');
    const unban = s.events.find((e) => e.type === 'unban');
    assert.ok(unban && unban.type === 'unban' && unban.jail === 'nginx-botsearch');
    // the web ban runs out on its own too: re-ban it, let 10 minutes pass
    s.engine.ban('198.51.100.4', { jail: 'nginx-botsearch', durationMs: 10 * MIN });
    s.advance(10 * MIN + 1000);
    s.engine.sweep();
    assert.equal(s.denied('198.51.100.4', 'http'), false);
    assert.ok(s.denied('198.51.100.4', 'imap'));
    assert.deepEqual(s.engine.unban('198.51.100.4', {}), { temp: true, blacklist: false });
    assert.equal(s.denied('198.51.100.4'), false, 'unban without a jail lifts every jail');
  });

  test('the per-service expiry is the latest ban covering the service, recomputed on lifting', () => {
    const s = setup([jail('a', { services: ['imap'] }), jail('b', { services: ['imap', 'pop3'] })]);
    s.engine.ban('198.51.100.5', { jail: 'a', durationMs: 2 * HOUR });
    s.engine.ban('198.51.100.5', { jail: 'b', durationMs: HOUR });
    s.denied('198.51.100.5', 'imap');
    assert.equal(s.out.expiresAt, Math.ceil((s.now() + 2 * HOUR) / 1000));
    s.engine.unban('198.51.100.5', { jail: 'a' });
    assert.ok(s.denied('198.51.100.5', 'imap'));
    assert.equal(
      s.out.expiresAt,
      Math.ceil((s.now() + HOUR) / 1000),
      'b still covers imap, until its own end',
    );
  });

  test('an unscoped ban of one jail and one of another: lifting the later keeps the earlier', () => {
    const s = setup([jail('sshd', { patterns: ['sshd-*'] })]);
    s.engine.ban('198.51.100.6', { durationMs: HOUR });
    s.engine.ban('198.51.100.6', { jail: 'sshd', durationMs: 3 * HOUR });
    s.engine.unban('198.51.100.6', { jail: 'sshd' });
    assert.ok(s.denied('198.51.100.6'));
    assert.equal(s.out.expiresAt, Math.ceil((s.now() + HOUR) / 1000));
  });

  test('ban() with services overrides the jail scope; unknown jails and bad services are refused', () => {
    const s = setup();
    const r = s.engine.ban('198.51.100.7', { services: ['IMAP'] });
    assert.equal(r.jail, DEFAULT_JAIL);
    assert.deepEqual(r.services, ['imap']);
    assert.ok(s.denied('198.51.100.7', 'imap'));
    assert.equal(s.denied('198.51.100.7', 'http'), false);
    assert.throws(() => s.engine.ban('198.51.100.8', { jail: 'nosuch' }), UnknownJailError);
    assert.throws(() => s.engine.ban('198.51.100.8', { services: ['no spaces'] }), {
      code: 'E_INVALID_SERVICE',
    });
  });

  test('whitelist still wins over scoped bans', () => {
    const s = setup();
    s.engine.whitelistAdd('198.51.100.9', {});
    for (let i = 0; i < 5; i++) assert.equal(s.fail('198.51.100.9', 'dovecot'), null);
    s.engine.ban('198.51.100.9', { jail: 'mail' });
    assert.equal(s.denied('198.51.100.9', 'imap'), false);
  });
});

describe('jails: shadow mode', () => {
  test('a shadow jail reports its would-be ban, never denies, keeps escalation memory as it was', () => {
    const s = setup([jail('trial', { patterns: ['sshd-*'], mode: 'shadow' })]);
    s.fail('203.0.113.1', 'sshd-auth');
    s.fail('203.0.113.1', 'sshd-auth');
    const r = s.fail('203.0.113.1', 'sshd-auth', 'sshd[1]: Failed password for root from 203.0.113.1');
    assert.ok(r);
    assert.equal(r.shadow, true);
    assert.equal(r.offences, 1);
    assert.equal(s.denied('203.0.113.1'), false, 'a would-be ban is not enforced');
    const ev = s.events.find((e) => e.type === 'ban');
    assert.ok(ev && ev.type === 'ban' && ev.record.shadow === true && ev.record.jail === 'trial');
    assert.equal(s.events.filter((e) => e.type === 'offence').length, 0, 'no escalation recorded');
    assert.equal(s.engine.list('temp', {}).total, 0, 'not among the bans in force');
    const shadow = s.engine.list('temp', { shadow: true });
    assert.equal(shadow.total, 1);
    assert.equal(shadow.items[0].shadow, true);
    const st = s.engine.status('203.0.113.1');
    assert.equal(st.banned, false);
    const tj = st.jails?.find((j) => j.jail === 'trial');
    assert.equal(tj?.mode, 'shadow');
    assert.equal(tj?.ban?.shadow, true);
    // the would-be ban holds: more failures do not make another one
    for (let i = 0; i < 5; i++) assert.equal(s.fail('203.0.113.1', 'sshd-auth'), null);
  });

  test('the whole process in shadow mode: the default jail reports too; enforce mode arms it again', () => {
    const s = setup([]);
    s.engine.setMode('shadow');
    for (let i = 0; i < 4; i++) s.fail('203.0.113.4', 'dovecot');
    assert.equal(s.fail('203.0.113.4', 'dovecot')?.shadow, true);
    assert.equal(s.denied('203.0.113.4'), false);
    s.engine.setMode('enforce');
    for (let i = 0; i < 4; i++) s.fail('203.0.113.5', 'dovecot');
    assert.equal(s.fail('203.0.113.5', 'dovecot')?.shadow, undefined);
    assert.ok(s.denied('203.0.113.5'));
  });

  test('would-be bans are counted per jail in the metrics', async () => {
    const s = setup([jail('trial', { patterns: ['sshd-*'], mode: 'shadow', maxAttempts: 1 })]);
    s.fail('203.0.113.2', 'sshd-auth');
    s.fail('203.0.113.3', 'sshd-auth');
    const text = await s.metrics.registry.metrics();
    assert.match(text, /edgeban_jail_shadow_bans_total\{jail="trial"\} 2/);
  });
});

describe('jails: explain', () => {
  test('status lists per jail: failures, threshold, window, ban with its scope, the last lines', () => {
    const s = setup();
    for (let i = 0; i < 7; i++)
      s.fail('203.0.113.9', 'dovecot', `dovecot: auth failed #${i} rip=203.0.113.9`);
    s.fail('203.0.113.9', 'sshd-auth', `sshd: Failed password ${'x'.repeat(500)}`);
    const st = s.engine.status('203.0.113.9');
    const mail = st.jails?.find((j) => j.jail === 'mail');
    assert.ok(mail);
    assert.equal(mail.threshold, 5);
    assert.equal(mail.window, 10 * MIN);
    assert.deepEqual(mail.ban?.services, ['imap', 'smtp']);
    assert.equal(mail.ban?.expiresAt, s.now() + HOUR);
    // five lines counted toward the ban; the two after it were not counted (already banned)
    assert.deepEqual(
      mail.lines,
      [0, 1, 2, 3, 4].map((i) => `dovecot: auth failed #${i} rip=203.0.113.9`),
    );
    const ssh = st.jails?.find((j) => j.jail === 'sshd');
    assert.equal(ssh?.failures, 1);
    assert.equal(ssh?.ban, null);
    assert.equal(ssh?.lines[0].length, 200, 'lines are cut to 200 characters');
    assert.equal(st.failures, 1);
  });
});

describe('jails: reload', () => {
  test('a jail that goes away takes its counts, not its bans; counts of kept jails stay', () => {
    const s = setup();
    s.fail('203.0.113.20', 'sshd-auth');
    s.fail('203.0.113.20', 'sshd-auth');
    s.engine.ban('203.0.113.21', { jail: 'mail' });
    s.engine.setJails(JAILS.filter((j) => j.name !== 'mail'));
    assert.ok(s.denied('203.0.113.21', 'imap'), 'the removed jail ban runs on');
    assert.ok(s.fail('203.0.113.20', 'sshd-auth'), 'sshd kept its two failures');
    assert.throws(() => s.engine.ban('203.0.113.22', { jail: 'mail' }), UnknownJailError);
  });
});
