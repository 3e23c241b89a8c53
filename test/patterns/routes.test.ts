import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logRoutes, MAX_ROUTES } from '../../src/main/ingest/routes.js';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { REC_PATTERN, RECORD_SIZE } from '../../src/shared/patterns/protocol.js';
import { jail } from '../helpers/jails.js';

const sshd = (ip: string) =>
  `<38>Dec  2 10:00:00 host sshd[1]: Failed password for root from ${ip} port 22 ssh2`;
const dovecot = (ip: string) =>
  `<38>Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;

/** The names and ids of the patterns that matched, in line order, for a batch of `route`. */
function run(
  m: BatchMatcher,
  specs: PatternSpec[],
  routes: string[][] | undefined,
  route: number,
  lines: string[],
  skip: number[] = [],
) {
  const payload = JSON.stringify({ version: 1, specs, skip, ...(routes ? { routes } : {}) });
  const r = m.run({
    version: 1,
    patterns: payload,
    buf: new TextEncoder().encode(lines.join('\n')),
    count: lines.length,
    timeMs: 0,
    lineTime: false,
    maxLen: 0,
    budgetMs: 1e9,
    route,
  });
  const enabled = specs.filter((s) => s.enabled !== false);
  const names: string[] = [];
  for (let k = 0; k < r.matches; k++) {
    const o = k * RECORD_SIZE;
    const id = r.records[o + REC_PATTERN] | (r.records[o + REC_PATTERN + 1] << 8);
    names.push(enabled[id].name);
  }
  const counted = [...r.perPattern].flatMap((n, id) => (n > 0 ? [`${enabled[id].name}×${n}`] : []));
  return { names, counted };
}

describe('log routes: a jail with a logpath reads its files alone', () => {
  const names = PRESETS.builtin.map((p) => p.name);

  test('without a logpath every pattern reads every line (one route)', () => {
    const r = logRoutes([jail('sshd', { patterns: ['sshd-*'] })], names);
    assert.deepEqual(r.patterns, [names]);
    assert.equal(r.paths.size, 0);
  });

  test("a pattern runs where its claiming jail reads: the first jail by name, globs too; a disabled jail's nowhere", () => {
    const r = logRoutes(
      [
        jail('apache', { patterns: ['nginx-*', 'sshd-invalid-user'], logpath: ['/var/log/nginx/*.log'] }),
        // claims sshd-invalid-user too, but 'apache' comes first by name
        jail('sshd', { patterns: ['sshd-*'], logpath: ['/var/log/auth.log'] }),
        jail('sshd-ddos', { patterns: ['sshd-*'], logpath: ['/var/log/other.log'] }),
        jail('mail', { patterns: ['dovecot-*'], logpath: ['/var/log/mail.log'], enabled: false }),
        jail('recidive', { source: 'bans', logpath: [] }),
      ],
      names,
    );
    // routes in name order of the enabled jails: apache, sshd, sshd-ddos (which claims nothing)
    assert.deepEqual(
      [...r.paths],
      [
        ['/var/log/nginx/*.log', 1],
        ['/var/log/auth.log', 2],
        ['/var/log/other.log', 3],
      ],
    );
    const sshdOwn = names.filter((n) => n.startsWith('sshd-') && n !== 'sshd-invalid-user');
    assert.deepEqual(r.patterns[2], sshdOwn);
    assert.deepEqual(r.patterns[3], []);
    assert.deepEqual(
      r.patterns[1],
      names.filter((n) => n.startsWith('nginx-') || n === 'sshd-invalid-user'),
    );
    // syslog keeps what no file-reading jail claims; the disabled mail jail's patterns run nowhere
    assert.deepEqual(
      r.patterns[0],
      names.filter((n) => !n.startsWith('sshd-') && !n.startsWith('nginx-') && !n.startsWith('dovecot-')),
    );
    // two jails on one file share its route
    const shared = logRoutes(
      [
        jail('a', { patterns: ['sshd-*'], logpath: ['/var/log/auth.log'] }),
        jail('b', { patterns: ['dovecot-*'], logpath: ['/var/log/auth.log'] }),
      ],
      names,
    );
    assert.equal(shared.paths.size, 1);
    assert.deepEqual(
      shared.patterns[1],
      names.filter((n) => n.startsWith('sshd-') || n.startsWith('dovecot-')),
    );
  });

  test('a logpath entry keeps the route it was given (a reload never hands its number to another file)', () => {
    const kept = new Map([['/var/log/mail.log', 7]]);
    let next = 8;
    const r = logRoutes(
      [
        jail('mail', { patterns: ['dovecot-*'], logpath: ['/var/log/mail.log'] }),
        jail('a-sshd', { patterns: ['sshd-*'], logpath: ['/var/log/auth.log'] }),
      ],
      names,
      (path) => kept.get(path) ?? next++,
    );
    assert.deepEqual(
      [...r.paths],
      [
        ['/var/log/auth.log', 8],
        ['/var/log/mail.log', 7],
      ],
    );
    assert.equal(r.patterns.length, 9);
    // the numbers no entry holds run nothing
    for (let k = 1; k < 7; k++) assert.deepEqual(r.patterns[k], [], `route ${k}`);
    assert.deepEqual(
      r.patterns[7],
      names.filter((n) => n.startsWith('dovecot-')),
    );
    assert.deepEqual(
      r.patterns[8],
      names.filter((n) => n.startsWith('sshd-')),
    );
  });

  test(`at most ${MAX_ROUTES} log files, the rest named as dropped`, () => {
    const many = Array.from({ length: MAX_ROUTES + 3 }, (_, i) => `/var/log/f${i}.log`);
    const r = logRoutes([jail('big', { patterns: ['sshd-*'], logpath: many })], names);
    assert.equal(r.paths.size, MAX_ROUTES);
    assert.deepEqual(r.dropped, many.slice(MAX_ROUTES));
  });

  test('a batch of a route runs only its patterns; records, tallies and quarantines keep the whole set ids', () => {
    const specs = [...PRESETS.builtin, { ...PRESETS.builtin[0], name: 'off', enabled: false }];
    const r = logRoutes(
      [
        jail('sshd', { patterns: ['sshd-*'], logpath: ['/var/log/auth.log'] }),
        jail('mail', { patterns: ['dovecot-*'], logpath: ['/var/log/mail.log'] }),
      ],
      specs.filter((s) => s.enabled).map((s) => s.name),
    );
    const lines = [sshd('198.51.100.1'), dovecot('198.51.100.2'), sshd('198.51.100.3')];
    const m = new BatchMatcher();
    const auth = r.paths.get('/var/log/auth.log') ?? -1;
    const mail = r.paths.get('/var/log/mail.log') ?? -1;
    assert.deepEqual(run(m, specs, r.patterns, auth, lines).names, [
      'sshd-failed-password',
      'sshd-failed-password',
    ]);
    assert.deepEqual(run(m, specs, r.patterns, mail, lines), {
      names: ['dovecot-auth-failed'],
      counted: ['dovecot-auth-failed×1'],
    });
    // syslog (route 0): neither jail's patterns
    assert.deepEqual(run(m, specs, r.patterns, 0, lines).names, []);
    // no routes: everything everywhere, the same names
    assert.deepEqual(run(new BatchMatcher(), specs, undefined, 0, lines).names, [
      'sshd-failed-password',
      'dovecot-auth-failed',
      'sshd-failed-password',
    ]);
    // a route out of range is syslog's
    assert.deepEqual(run(new BatchMatcher(), specs, r.patterns, 99, lines).names, []);
    // a pattern quarantined in the whole set (by its id there) is skipped in its route
    const id = specs.filter((s) => s.enabled).findIndex((s) => s.name === 'sshd-failed-password');
    assert.deepEqual(run(new BatchMatcher(), specs, r.patterns, auth, lines, [id]).names, []);
  });
});
