import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { type ReplayDeps, replayCommand } from '../../src/main/replay/command.js';
import { replay } from '../../src/main/replay/replay.js';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { jail } from '../helpers/jails.js';
import { tempDir } from '../helpers/tmp.js';

const fixture = fileURLToPath(new URL('../../../test/replay/fixtures/mail.log', import.meta.url));

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export async function runReplay(
  argv: string[],
  deps: ReplayDeps = {},
): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await replayCommand(argv, {
    stdout: out,
    stderr: err,
    loadConfig: () => defaultConfig(),
    ...deps,
  });
  return { code, out: out.text, err: err.text };
}

describe('edgeban replay', () => {
  const dir = tempDir('edgeban-replay-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--json summary on the fixture: lines, matched per pattern, missed, truncated', async () => {
    const r = await runReplay([fixture, '--json', '--threads', '1']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.lines, 25);
    assert.equal(j.matched, 15);
    assert.equal(j.missed, 10);
    assert.equal(j.truncated, 1);
    assert.equal(j.no_header, 1);
    assert.equal(j.addresses, 8);
    const by = Object.fromEntries(
      j.patterns.map((p: { name: string; matched: number }) => [p.name, p.matched]),
    );
    assert.equal(by['dovecot-auth-failed'], 5);
    assert.equal(by['sshd-failed-password'], 4);
    assert.equal(by['postfix-sasl-failed'], 5);
    assert.equal(by['nginx-auth-basic'], 1);
    assert.equal(by['sogo-login-failed'], 0);
    // bans that would have happened, at the deciding line's own time: five Dovecot failures from
    // one address, and an IPv6 client rotating inside one /64 (banned as the prefix); the four
    // sshd failures stay below max_attempts
    const at = (h: number, m: number, sec: number) => {
      const ref = Date.now();
      const y = new Date(ref).getFullYear();
      let t = new Date(y, 10, 24, h, m, sec).getTime();
      if (t > ref + 86_400_000) t = new Date(y - 1, 10, 24, h, m, sec).getTime();
      return new Date(t).toISOString().replace('.000Z', 'Z');
    };
    assert.deepEqual(j.bans, [
      {
        target: '203.0.113.5',
        pattern: 'dovecot-auth-failed',
        at: at(10, 0, 40),
        expires_at: at(10, 5, 40),
        duration_seconds: 300,
        offences: 1,
        jail: 'default',
        services: [],
        shadow: false,
      },
      {
        target: '2001:db8:77:1::/64',
        pattern: 'postfix-sasl-failed',
        at: at(10, 1, 38),
        expires_at: at(10, 6, 38),
        duration_seconds: 300,
        offences: 1,
        jail: 'default',
        services: [],
        shadow: false,
      },
    ]);
  });

  test('table output names every pattern and the totals', async () => {
    const r = await runReplay([fixture, '--threads', '1']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Lines: 25 lines, 15 matched, 10 missed/m);
    assert.match(r.out, /\| +1 \| dovecot-auth-failed +\| +4 \| +5 \|/);
    assert.match(r.out, /Truncated: 1 over-long lines were cut/);
    assert.match(r.out, /Bans that would have happened: 2/);
    assert.match(r.out, /\| 203\.0\.113\.5 +\| default +\| all +\| dovecot-auth-failed +\| +1 \| 5m +\|/);
  });

  test('stdin ("-") and several files add up', async () => {
    const stdin = new PassThrough();
    const done = replay({
      files: [fixture, '-'],
      patterns: builtin,
      engine: null,
      threads: 1,
      log: pino({ level: 'silent' }),
      stdin,
    });
    stdin.end('Nov 24 10:00:00 gw sshd[1]: Invalid user x from 192.0.2.200 port 22\nno newline at end');
    const s = await done;
    assert.equal(s.lines, 27);
    assert.equal(s.matched, 16);
  });

  test('ban policy flags change the outcome (--max-attempts)', async () => {
    const r = await runReplay([fixture, '--json', '--threads', '1', '--max-attempts', '4']);
    assert.equal(r.code, 0, r.err);
    const targets = JSON.parse(r.out).bans.map((b: { target: string }) => b.target);
    assert.deepEqual(targets, ['203.0.113.5', '198.51.100.9', '2001:db8:77:1::/64']);
  });

  test('--regex tests a new pattern (Go syntax, named group)', async () => {
    const r = await runReplay([
      fixture,
      '--json',
      '--threads',
      '1',
      '--regex',
      '(?i)^SSHD: failed password .* from (?P<host>\\S+) port',
      '--ip-group',
      'host',
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(j.patterns, [{ name: 'regex', severity: 1, matched: 4 }]);
  });

  test('--patterns file and --preset', async () => {
    const f = join(dir, 'p.yaml');
    writeFileSync(
      f,
      'syslog:\n  patterns:\n    - name: v6-sasl\n      regex: "SASL .* failed"\n      ip_group: 0\n    - name: nginx\n      regex: "client: ([0-9.]+),"\n',
    );
    const r = await runReplay([fixture, '--json', '--threads', '1', '--patterns', f]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(
      JSON.parse(r.out).patterns.map((p: { matched: number }) => p.matched),
      [0, 1],
    );
    const r2 = await runReplay([fixture, '--json', '--threads', '1', '--preset', 'reference-compose']);
    assert.equal(r2.code, 0, r2.err);
    // IPv4-only reference set: dovecot login failures and postfix SASL over IPv4 only (none here)
    assert.equal(JSON.parse(r2.out).matched, 5);
  });

  test('errors: bad pattern names it, missing file, unknown option', async () => {
    const a = await runReplay([fixture, '--regex', '(a)\\1 (\\S+)', '--ip-group', '2']);
    assert.equal(a.code, 2);
    assert.match(a.err, /pattern "regex": regex cannot run in linear time/);
    const b = await runReplay([join(dir, 'nope.log')]);
    assert.equal(b.code, 2);
    assert.match(b.err, /ENOENT/);
    const c = await runReplay(['--bogus', fixture]);
    assert.equal(c.code, 2);
    assert.match(c.err, /unknown option --bogus/);
    const d = await runReplay([]);
    assert.equal(d.code, 2);
  });
});

describe('edgeban replay with jails', () => {
  test("bans per jail: each jail's threshold and scope, a shadow jail's would-be bans apart", async () => {
    const r = await runReplay([fixture, '--json', '--threads', '1'], {
      loadConfig: () => {
        const c = defaultConfig();
        c.jails = [
          jail('ssh', { patterns: ['sshd-*'], maxAttempts: 3 }),
          jail('mail', { patterns: ['dovecot-*'], maxAttempts: 5, services: ['imap'] }),
          jail('smtp', { patterns: ['postfix-*'], maxAttempts: 5, mode: 'shadow' }),
        ];
        return c;
      },
    });
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const bans = j.bans.map((b: { target: string; jail: string; services: string[]; shadow: boolean }) => [
      b.target,
      b.jail,
      b.services.join(','),
      b.shadow,
    ]);
    assert.deepEqual(
      bans.sort(),
      [
        ['198.51.100.9', 'ssh', '', false],
        ['2001:db8:77:1::/64', 'smtp', '', true],
        ['203.0.113.5', 'mail', 'imap', false],
      ].sort(),
    );
    assert.deepEqual(j.jails, [
      { jail: 'mail', bans: 1, shadow: 0 },
      { jail: 'smtp', bans: 0, shadow: 1 },
      { jail: 'ssh', bans: 1, shadow: 0 },
    ]);
    const text = await runReplay([fixture, '--threads', '1'], {
      loadConfig: () => {
        const c = defaultConfig();
        c.jails = [jail('smtp', { patterns: ['postfix-*'], maxAttempts: 5, mode: 'shadow' })];
        return c;
      },
    });
    assert.match(text.out, /Bans per jail/);
    assert.match(text.out, /smtp \(shadow\)/);
  });
});
