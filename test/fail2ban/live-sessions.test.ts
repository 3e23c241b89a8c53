import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { readFilter } from '../../src/main/fail2ban/filter.js';
import { filterPatterns } from '../../src/main/fail2ban/import.js';
import { LIVE_SESSIONS_MAX, LiveSessions, sessionScope } from '../../src/main/ingest/sessions.js';
import { rowOfSpec } from '../../src/main/store/rows.js';
import { formatIp } from '../../src/shared/ip/parse.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { REC_ADDR, REC_FAMILY, REC_PATTERN, RECORD_SIZE } from '../../src/shared/patterns/protocol.js';
import { runBatch } from '../patterns/helpers.js';
import { FAIL2BAN_DIR } from './oracle.js';

const skip = (() => {
  try {
    readFilter(FAIL2BAN_DIR, 'sshd');
    return false;
  } catch {
    return 'no fail2ban tree in /etc/fail2ban (Debian package fail2ban)';
  }
})();

/**
 * Lines through the worker's matcher and the main thread's session rules, as the pipeline runs
 * them: per line the address counted as a failure, or null.
 */
function live(specs: PatternSpec[], lines: string[], sessions = new LiveSessions()): (string | null)[] {
  const r = runBatch(specs, lines, false, Date.now());
  const out: (string | null)[] = lines.map(() => null);
  const rec = r.records;
  for (let k = 0; k < r.matches; k++) {
    const off = k * RECORD_SIZE;
    const line = new DataView(rec.buffer, rec.byteOffset + off + 20, 4).getUint32(0, true);
    const id = rec[off + REC_PATTERN] | (rec[off + REC_PATTERN + 1] << 8);
    const ses = r.sessions?.[k] ?? '';
    if (ses === '')
      out[line] = formatIp(rec.subarray(off + REC_ADDR, off + REC_ADDR + 16), rec[off + REC_FAMILY] as 4 | 6);
    else if (sessions.resolve(specs[id].name, ses, rec[off + REC_FAMILY], rec, off + REC_ADDR))
      out[line] = formatIp(sessions.addr, sessions.family);
  }
  return out;
}

const sshd = (opts: Record<string, string> = {}) =>
  filterPatterns(readFilter(FAIL2BAN_DIR, 'sshd', opts), 'f2b-sshd').patterns;
const at = (pid: number, msg: string) => `Dec  2 10:00:01 gw sshd[${pid}]: ${msg}`;

describe('fail2ban sessions in the live path', { skip }, () => {
  test('a line without an address counts for the address its session gave, and only there', () => {
    const got = live(sshd(), [
      at(5151, 'Connection from 198.51.100.40 port 40000 on 10.0.0.1 port 22 rdomain ""'),
      at(5151, 'Disconnecting: Too many authentication failures for root [preauth]'),
      at(6262, 'Disconnecting: Too many authentication failures for root [preauth]'),
    ]);
    assert.deepEqual(got, [null, '198.51.100.40', null]);
  });

  test('a key that failed before the one that logged in is no failure; a password is one', () => {
    const got = live(sshd(), [
      at(7373, 'Failed publickey for git from 198.51.100.41 port 40001 ssh2: RSA SHA256:abcdef'),
      at(7373, 'Accepted publickey for git from 198.51.100.41 port 40001 ssh2: RSA SHA256:abcdef'),
      at(8484, 'Failed password for root from 198.51.100.43 port 40002 ssh2'),
    ]);
    assert.deepEqual(got, [null, null, '198.51.100.43']);
  });

  test('a failure that waited for its address counts when a later line of the session gives it', () => {
    // aggressive mode: the key exchange failure names no address; the disconnect after it does
    const got = live(sshd({ mode: 'aggressive' }), [
      at(22440, 'fatal: Unable to negotiate a key exchange method [preauth]'),
      at(22440, 'Connection closed by 192.0.2.3 port 55555 [preauth]'),
    ]);
    assert.deepEqual(got, [null, '192.0.2.3']);
  });

  test('a session is forgotten five minutes after its first line: a reused pid inherits nothing', () => {
    let now = 1_000_000;
    const sessions = new LiveSessions(() => now);
    const specs = sshd();
    live(specs, [at(900, 'Connection from 198.51.100.44 port 1 on 10.0.0.1 port 22')], sessions);
    now += 5 * 60_000 + 1;
    const got = live(
      specs,
      [at(900, 'Disconnecting: Too many authentication failures for root [preauth]')],
      sessions,
    );
    assert.deepEqual(got, [null]);
  });

  test('sessions of two filters stay apart, and the cache is bounded', () => {
    assert.equal(sessionScope('f2b-sshd-14a'), 'f2b-sshd');
    assert.equal(sessionScope('f2b-sendmail-auth-2'), 'f2b-sendmail-auth');
    const sessions = new LiveSessions();
    const specs = sshd();
    const lines: string[] = [];
    for (let i = 0; i < LIVE_SESSIONS_MAX + 5000; i++)
      lines.push(
        at(
          10_000 + i,
          `Connection from 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} port 1 on 10.0.0.1 port 22`,
        ),
      );
    live(specs, lines, sessions);
    assert.equal(sessions.size, LIVE_SESSIONS_MAX);
    // the oldest went, the newest is still there
    const got = live(
      specs,
      [
        at(10_000, 'Disconnecting: Too many authentication failures for root [preauth]'),
        at(
          10_000 + LIVE_SESSIONS_MAX + 4999,
          'Disconnecting: Too many authentication failures for root [preauth]',
        ),
      ],
      sessions,
    );
    const last = LIVE_SESSIONS_MAX + 4999;
    assert.deepEqual(got, [null, `10.${(last >> 16) & 255}.${(last >> 8) & 255}.${last & 255}`]);
  });

  test('stored as a patterns row (ip_group a number), the patterns keep their sessions and second addresses', () => {
    const stored = (specs: PatternSpec[]) => specs.map((s) => ({ ...s, ip_group: rowOfSpec(s).ip_group }));
    const ssh = stored(sshd());
    const noAddress = ssh.find((s) => s.regex.includes('Too many authentication failures'));
    assert.equal(noAddress?.ip_group, 0, 'a pattern without an address is stored with group 0');
    assert.deepEqual(
      live(ssh, [
        at(5151, 'Connection from 198.51.100.40 port 40000 on 10.0.0.1 port 22 rdomain ""'),
        at(5151, 'Disconnecting: Too many authentication failures for root [preauth]'),
      ]),
      [null, '198.51.100.40'],
    );
    // sendmail writes `[IPv6:…]` or `[a.b.c.d]`: the IPv4 form is the regex's second address tag
    const sm = stored(
      filterPatterns(readFilter(FAIL2BAN_DIR, 'sendmail-auth'), 'f2b-sendmail-auth').patterns,
    );
    assert.ok(sm.every((s) => typeof s.ip_group === 'number'));
    assert.deepEqual(
      live(sm, [
        'Feb 16 23:33:20 smtp1 sm-mta[5133]: s1GNXHYB005133: [190.5.230.178]: possible SMTP attack: command=AUTH, count=5',
      ]),
      ['190.5.230.178'],
    );
  });
});

describe('fail2ban sessions under hostile input', { skip }, () => {
  // user names are the attacker's: they carry decoy addresses (203.0.113.x) and sshd's own words;
  // the real client addresses are 198.51.100.x, and pids are sshd's
  const user = fc.constantFrom(
    'root',
    'x from 203.0.113.66',
    'y from 203.0.113.67 port 2 ssh2',
    'invalid user z from 203.0.113.68',
    'Connection from 203.0.113.69',
    '',
  );
  const line = fc
    .tuple(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 9 }),
      user,
      fc.integer({ min: 0, max: 6 }),
    )
    .map(([pid, host, u, kind]) => {
      const a = `198.51.100.${host}`;
      // a login names an account that exists: no spaces (sshd's filter takes `for \S+ from <HOST>`
      // there, as fail2ban does, so an account named `x from 203.0.113.66` would be its address)
      const account = u === '' || u.includes(' ') ? 'git' : u;
      const msg = [
        `Connection from ${a} port 1 on 10.0.0.1 port 22`,
        `Failed password for ${u} from ${a} port 2 ssh2`,
        `Failed publickey for ${u} from ${a} port 2 ssh2: RSA SHA256:x`,
        `Disconnecting: Too many authentication failures for ${u} [preauth]`,
        `Accepted publickey for ${account} from ${a} port 2 ssh2: RSA SHA256:x`,
        `Invalid user ${u} from ${a} port 3`,
        `Received disconnect from ${a} port 4:11: Bye Bye [preauth]`,
      ][kind];
      return { pid, address: a, text: at(pid, msg) };
    });
  const specs = sshd();

  test('an address counted is one its own session wrote as the client, never one from a user name', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), (lines) => {
        const got = live(
          specs,
          lines.map((l) => l.text),
        );
        got.forEach((a, i) => {
          if (a === null) return;
          assert.ok(!a.startsWith('203.0.113.'), `decoy ${a} from ${lines[i].text}`);
          const own = lines
            .slice(0, i + 1)
            .filter((l) => l.pid === lines[i].pid)
            .map((l) => l.address);
          assert.ok(own.includes(a), `${a} is not an address of session ${lines[i].pid}: ${lines[i].text}`);
        });
      }),
      { seed: 0x5e55, numRuns: 300, interruptAfterTimeLimit: 4000 },
    );
  });

  test('malformed session records and any line never throw, and the cache stays bounded', () => {
    const sessions = new LiveSessions();
    const rec = new Uint8Array(32);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom(0, 4, 6, 7), (s, fam) => {
        assert.equal(typeof sessions.resolve('f2b-sshd-1', s, fam, rec, 4), 'boolean');
        live(specs, [at(7, s)], sessions);
        assert.ok(sessions.size <= LIVE_SESSIONS_MAX);
      }),
      { seed: 0x5e56, numRuns: 500, interruptAfterTimeLimit: 4000 },
    );
  });
});
