import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { PatternSet } from '../../src/shared/patterns/set.js';
import { match, noMatch } from './fixtures.js';
import { matchLines } from './helpers.js';

const builtin = PRESETS.builtin;

describe('built-in presets', () => {
  test('every fixture line is counted once, for the right pattern and canonical address', () => {
    for (const f of match) {
      const found = matchLines(builtin, [f.line]);
      assert.equal(found.length, 1, `no match: ${f.line}`);
      assert.equal(found[0].pattern, f.pattern, f.line);
      assert.equal(found[0].ip, f.ip, f.line);
    }
  });

  test('lines that must not count do not', () => {
    for (const line of noMatch) {
      assert.deepEqual(matchLines(builtin, [line]), [], `unexpected match: ${line}`);
    }
  });

  test('every preset pattern has IPv4 and IPv6 fixtures', () => {
    for (const p of builtin) {
      const fams = new Set(
        match.filter((f) => f.pattern === p.name).map((f) => (f.ip.includes(':') ? 6 : 4)),
      );
      assert.ok(fams.has(4) && fams.has(6), `${p.name} lacks an IPv4 or IPv6 fixture`);
    }
  });

  test('the same lines with RFC 3164 and RFC 5424 headers still match', () => {
    // syslog lines only: Dovecot's own log file (`Nov 24 … imap-login: Info: …`) has no host
    for (const f of match.filter((x) => /^[A-Z][a-z]{2} [ \d]\d [\d:]{8} [^\s:]+ /.test(x.line))) {
      // "Nov 24 16:05:41 host tag[pid]: msg" → "<38>Nov 24 …" and "<38>1 2026-… host tag pid - - msg"
      const m = /^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^:[ ]+)(?: ?\[(\d+)\])?: (.*)$/.exec(f.line);
      assert.ok(m, f.line);
      const [, , host, tag, pid, msg] = m;
      const l3164 = `<38>${f.line}`;
      const l5424 = `<38>1 2026-11-24T16:05:41.123Z ${host} ${tag} ${pid ?? '-'} - - ${msg}`;
      for (const l of [l3164, l5424]) {
        const found = matchLines(builtin, [l]);
        assert.equal(found.length, 1, l);
        assert.equal(found[0].ip, f.ip, l);
      }
    }
  });

  test('a mixed batch yields one record per matching line, in line order', () => {
    const lines = [noMatch[0], match[0].line, noMatch[1], match[9].line, match[16].line];
    const found = matchLines(builtin, lines);
    assert.deepEqual(
      found.map((f) => f.line),
      [1, 3, 4],
    );
  });

  test('the reference pattern sets compile and match their documented sample lines', () => {
    for (const name of ['reference-db-seed', 'reference-compose', 'reference-docs']) {
      const set = new PatternSet(1, PRESETS[name]);
      assert.ok(set.patterns.length >= 3, name);
    }
    const samples = [
      '<134>Oct 15 10:30:15 hostname dovecot: auth failed, method=PLAIN, rip=192.168.1.100',
      '<134>Oct 15 10:30:16 hostname postfix/smtpd: warning: SASL authentication failed: authentication failure [192.168.1.100]',
      "<134>Oct 15 10:30:17 hostname sogod: Login failed for user 'test' from 192.168.1.100",
    ];
    const found = matchLines(PRESETS['reference-docs'], samples);
    assert.deepEqual(
      found.map((f) => [f.pattern, f.ip]),
      [
        ['dovecot_auth_failure', '192.168.1.100'],
        ['postfix_sasl_failure', '192.168.1.100'],
        ['sogo_login_failure', '192.168.1.100'],
      ],
    );
    assert.deepEqual(
      matchLines(PRESETS['reference-docs'], ['<134>x dovecot: auth failed, rip=invalid.ip.address']),
      [],
    );
  });
});
