import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BanRecordRows, OffenceRecordRows } from '../../src/main/engine/restore-rows.js';
import { decodeSnapshot } from '../../src/main/engine/snapshot.js';
import type { BanRecord, OffenceRecord } from '../../src/main/engine/types.js';
import { EdgebanError } from '../../src/shared/errors.js';
import { jail } from '../helpers/jails.js';
import { makeEngine } from '../store/harness.js';

const T0 = 1_800_000_000_123;
const DB = 'sqlite:/var/lib/edgeban/fail2ban.db';
const JAILS = [
  jail('mail', { patterns: ['dovecot-auth-failed'], maxAttempts: 3, services: ['imap', 'smtp'] }),
];

type Engine = ReturnType<typeof makeEngine>;

/** An engine holding bans of every shape: log-made, escalated, manual, IPv6 /64, a range, scoped. */
function populated(): Engine {
  const e = makeEngine(T0);
  e.engine.setJails(JAILS);
  for (let i = 0; i < 40; i++) {
    e.advance(7);
    for (let f = 0; f < 5; f++) e.fail(`198.51.${i >> 4}.${i & 15}`, 'sshd-failed-password');
  }
  for (let f = 0; f < 3; f++) e.fail('203.0.113.9', 'dovecot-auth-failed'); // the mail jail, scoped
  for (let f = 0; f < 5; f++) e.fail('2001:db8:1:2::77', 'sshd-invalid-user');
  e.engine.ban('192.0.2.10', { durationMs: 3_600_013, reason: 'ticket 7', createdBy: 'alice' });
  e.engine.ban('10.20.0.0/16', { durationMs: 7_200_001, reason: 'range', createdBy: 'bob' });
  e.engine.ban('2001:db8:ff::/48', { durationMs: 600_000, reason: 'v6 range' });
  // an escalated one: banned, lifted, banned again (offence memory 2)
  e.engine.unban('198.51.0.1', {});
  for (let f = 0; f < 5; f++) e.fail('198.51.0.1', 'sshd-failed-password');
  return e;
}

/** Every temporary ban, with its scope, in a stable order. */
function bans(e: Engine): BanRecord[] {
  const page = e.engine.list('temp', { limit: Number.MAX_SAFE_INTEGER });
  return [...page.items].sort((a, b) => `${a.target}|${a.jail}`.localeCompare(`${b.target}|${b.jail}`));
}

function statusOf(e: Engine, ips: string[]) {
  return ips.map((ip) => {
    const s = e.engine.status(ip);
    return {
      ip,
      banned: s.banned,
      kind: s.kind,
      matched: s.matched,
      expiresAt: s.expiresAt,
      offences: s.offences,
    };
  });
}

const PROBES = [
  '198.51.0.1',
  '198.51.1.7',
  '203.0.113.9',
  '2001:db8:1:2::1',
  '192.0.2.10',
  '10.20.3.4',
  '2001:db8:ff:1::9',
  '8.8.8.8',
];

describe('the engine state snapshot', () => {
  test('a fresh engine loaded from it answers as the one that wrote it: every ban, scope, expiry and offence', () => {
    const a = populated();
    const before = bans(a);
    assert.ok(before.length >= 45, `${before.length} bans made`);
    assert.ok(before.some((r) => r.jail === 'mail' && r.services?.join(',') === 'imap,smtp'));
    assert.ok(before.some((r) => r.target === '2001:db8:1:2::/64'));
    assert.ok(before.some((r) => r.target === '198.51.0.1' && r.offences === 2));
    const snap = decodeSnapshot(a.engine.snapshotState(DB));
    assert.equal(snap.meta.database, DB);
    const b = makeEngine(a.now());
    b.engine.setJails(JAILS);
    const n = b.engine.loadSnapshot(snap);
    assert.equal(n.bans, before.length);
    assert.deepEqual(bans(b), before);
    assert.deepEqual(statusOf(b, PROBES), statusOf(a, PROBES));
    // the table itself answers (what the SPOA reads): the scoped ban covers its services only
    assert.equal(b.banned('198.51.1.7'), true);
    assert.equal(b.banned('10.20.255.1'), true);
    assert.equal(b.banned('8.8.8.8'), false);
    // the offence memory came too: the next ban of the escalated address is its third
    b.engine.unban('198.51.0.1', {});
    for (let f = 0; f < 5; f++) b.fail('198.51.0.1', 'sshd-failed-password');
    a.engine.unban('198.51.0.1', {});
    for (let f = 0; f < 5; f++) a.fail('198.51.0.1', 'sshd-failed-password');
    assert.equal(b.engine.status('198.51.0.1').offences, a.engine.status('198.51.0.1').offences);
    assert.equal(b.engine.status('198.51.0.1').expiresAt, a.engine.status('198.51.0.1').expiresAt);
  });

  test('what expired while the process was down stays out; shadow bans are not written', () => {
    const a = makeEngine(T0);
    a.engine.setJails([jail('watch', { patterns: ['sshd-*'], mode: 'shadow' })]);
    a.engine.ban('192.0.2.1', { durationMs: 1_000 });
    a.engine.ban('192.0.2.2', { durationMs: 60_000 });
    for (let f = 0; f < 5; f++) a.fail('192.0.2.3', 'sshd-failed-password');
    assert.equal(a.engine.tempBansOf('watch'), 1, 'the shadow jail holds its would-be ban');
    const snap = decodeSnapshot(a.engine.snapshotState(DB));
    assert.equal(snap.bans.length, 2);
    const b = makeEngine(T0 + 5_000);
    assert.equal(b.engine.loadSnapshot(snap).bans, 1);
    assert.deepEqual(
      bans(b).map((r) => r.target),
      ['192.0.2.2'],
    );
  });

  test('the database confirms it: rows it does not hold go, rows it holds otherwise win, touched ones stay', () => {
    const a = makeEngine(T0);
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'])
      a.engine.ban(ip, { durationMs: 3_600_000, reason: 'r', createdBy: 'alice' });
    for (let f = 0; f < 5; f++) a.fail('192.0.2.5', 'sshd-failed-password');
    const rows = bans(a);
    const b = makeEngine(T0 + 1_000);
    b.engine.loadSnapshot(decodeSnapshot(a.engine.snapshotState(DB)));
    assert.equal(bans(b).length, 5);
    // while it was down: .2 lifted in SQL, .3 lengthened, .6 added; .4 banned again since the start
    const db: BanRecord[] = rows
      .filter((r) => r.target !== '192.0.2.2' && r.target !== '192.0.2.4')
      .map((r) => (r.target === '192.0.2.3' ? { ...r, expiresAt: T0 + 9_000_000 } : r));
    db.push({ ...rows[0], target: '192.0.2.6', createdBy: 'carol' });
    b.engine.ban('192.0.2.4', { durationMs: 1_800_000, createdBy: 'bob' });
    const offences: OffenceRecord[] = [{ target: '192.0.2.5', banCount: 1, lastOffence: T0 }];
    b.engine.restoreRows(
      new BanRecordRows(db),
      new OffenceRecordRows(offences),
      0,
      Number.POSITIVE_INFINITY,
      new Set(['192.0.2.4']),
    );
    assert.equal(b.engine.dropUnconfirmed().bans, 1);
    const after = new Map(bans(b).map((r) => [r.target, r]));
    assert.deepEqual([...after.keys()].sort(), [
      '192.0.2.1',
      '192.0.2.3',
      '192.0.2.4',
      '192.0.2.5',
      '192.0.2.6',
    ]);
    assert.equal(b.banned('192.0.2.2'), false, 'lifted in the database: out of the table too');
    assert.equal(after.get('192.0.2.3')?.expiresAt, T0 + 9_000_000, "the database's row wins");
    assert.equal(after.get('192.0.2.4')?.createdBy, 'bob', 'the ban made since the start stays');
    assert.equal(after.get('192.0.2.6')?.createdBy, 'carol');
    assert.deepEqual(after.get('192.0.2.1'), rows[0]);
    assert.equal(b.engine.status('192.0.2.5').offences, 1);
    assert.equal(b.engine.status('192.0.2.2').offences, 0, 'its offence memory went with it');
    // a second pass finds nothing left to drop
    assert.deepEqual(b.engine.dropUnconfirmed(), { bans: 0, offences: 0 });
  });
});

describe('a snapshot that is not one', () => {
  const good = (() => {
    const a = populated();
    return new Uint8Array(a.engine.snapshotState(DB));
  })();

  const code = (fn: () => unknown): string => {
    try {
      fn();
      return 'decoded';
    } catch (err) {
      assert.ok(err instanceof EdgebanError, `an EdgebanError, not ${String(err)}`);
      return err.code;
    }
  };

  test('truncated, or any byte changed, it is refused with E_SNAPSHOT and nothing else', () => {
    assert.equal(
      code(() => decodeSnapshot(good.subarray(0, good.length - 1))),
      'E_SNAPSHOT',
    );
    assert.equal(
      code(() => decodeSnapshot(new Uint8Array(0))),
      'E_SNAPSHOT',
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = new Uint8Array(good);
        bad[at] ^= x;
        const c = code(() => decodeSnapshot(bad));
        // a change inside the header's JSON may still read (a string's letter): never a crash
        return c === 'E_SNAPSHOT' || c === 'decoded';
      }),
      { seed: 0x5eed, numRuns: 400 },
    );
  });

  test("a header naming one jail twice is refused (its rows would be each other's duplicates)", () => {
    const b = Buffer.from(good);
    const hlen = b.readUInt32LE(4);
    const header = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as { jails: string[] };
    assert.ok(header.jails.length >= 2, 'the populated engine has two jails');
    // the header rewritten in place, padded to its length: the body and its checksum stay
    const withJails = (jails: string[]): Uint8Array => {
      const json = Buffer.alloc(hlen, 0x20);
      assert.ok(json.write(JSON.stringify({ ...header, jails })) <= hlen);
      return new Uint8Array(Buffer.concat([b.subarray(0, 8), json, b.subarray(8 + hlen)]));
    };
    assert.equal(
      code(() => decodeSnapshot(withJails(header.jails))),
      'decoded',
    );
    const shortest = [...header.jails].sort((x, y) => x.length - y.length)[0];
    assert.equal(
      code(() => decodeSnapshot(withJails(header.jails.map(() => shortest)))),
      'E_SNAPSHOT',
    );
  });

  test('random bytes after a valid magic are refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (tail) => {
        const bytes = new Uint8Array(4 + tail.length);
        bytes.set([0x45, 0x42, 0x53, 0x31]);
        bytes.set(tail, 4);
        return code(() => decodeSnapshot(bytes)) === 'E_SNAPSHOT';
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
