import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCore } from '../../src/main/core.js';
import type { BanEvent } from '../../src/main/engine/types.js';
import { FleetBus } from '../../src/main/fleet/bus.js';
import { encodeMessages, fleetKey } from '../../src/main/fleet/messages.js';
import type { Store } from '../../src/main/store/types.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { PostgresCluster, postgresMissing } from '../helpers/postgres.js';
import { memoryLogger } from '../ingest/harness.js';
import { makeStore, until } from '../store/harness.js';

const CHANNEL = 'edgeban_fleet';

/** One node: its own table and engine, a bus on the shared database (catching up through `store`). */
function node(
  name: string,
  dsn: string,
  retryMs: [number, number] = [100, 100],
  writeGraceMs = 3_000,
  store?: Store,
) {
  const { engine, isBanned } = createCore({ nodeId: name });
  const { log, lines } = memoryLogger();
  const events: BanEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const bus = new FleetBus({
    dsn,
    channel: CHANNEL,
    key: fleetKey('fleet test'),
    engine,
    log,
    retryMs,
    writeGraceMs,
    bans: store,
  });
  return {
    engine,
    bus,
    lines,
    events,
    banned: isBanned,
    fail: (ip: string) => {
      const a = parseIp(ip);
      return engine.recordFailure(a.bytes, a.family, 'dovecot-auth-failed', Date.now());
    },
  };
}

describe('fleet bus on a real PostgreSQL', { skip: postgresMissing() }, () => {
  let pg: PostgresCluster;
  let dsn: string;
  let a: ReturnType<typeof node>;
  let b: ReturnType<typeof node>;
  let store: Store;

  before(async () => {
    pg = await PostgresCluster.create();
    dsn = await pg.createDatabase('fleet');
    // the schema, as a node's store makes it; the nodes read the bans table through it
    store = makeStore('postgres', dsn).store;
    await store.start();
    a = node('a', dsn, undefined, undefined, store);
    b = node('b', dsn, [1500, 1500], undefined, store);
    a.bus.start();
    b.bus.start();
    await until(() => a.bus.isConnected && b.bus.isConnected, 10_000, 'both nodes listening');
  });
  after(async () => {
    await a?.bus.stop();
    await b?.bus.stop();
    await store?.stop();
    await pg?.destroy();
  });

  test('a log-made ban on one node is banned on the other at once, and is not echoed back', async () => {
    for (let i = 0; i < 5; i++) a.fail('198.51.100.7');
    assert.ok(a.banned('198.51.100.7'));
    await until(() => b.banned('198.51.100.7'), 5_000, 'ban reaches node b');
    const seen = b.events.find((e) => e.type === 'ban' && e.record.target === '198.51.100.7');
    assert.ok(seen && seen.type === 'ban');
    assert.equal(seen.origin, 'fleet');
    assert.equal(seen.record.node, 'a');
    assert.equal(seen.record.pattern, 'dovecot-auth-failed');
    // escalation memory travels with it: b's next ban of this address is the second offence
    assert.equal(b.engine.status('198.51.100.7').offences, 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.bus.stats.received, 0, 'b did not publish what it only applied');
  });

  test('unbans, blacklist entries and their removal travel too', async () => {
    a.engine.ban('203.0.113.9', { durationMs: 3_600_000, createdBy: 'ops' });
    await until(() => b.banned('203.0.113.9'), 5_000, 'manual ban on b');
    a.engine.unban('203.0.113.9', { by: 'ops' });
    await until(() => !b.banned('203.0.113.9'), 5_000, 'unban on b');

    b.engine.blacklistAdd('192.0.2.0/24', { createdBy: 'ops', reason: 'abuse' });
    await until(() => a.banned('192.0.2.44'), 5_000, 'blacklist on a');
    b.engine.blacklistRemove('192.0.2.0/24', { by: 'ops' });
    await until(() => !a.banned('192.0.2.44'), 5_000, 'blacklist removal on a');
  });

  test('garbage and forged notifications on the channel are refused and logged; sharing goes on', async () => {
    await pg.query('fleet', "SELECT pg_notify('edgeban_fleet', 'not a fleet message')");
    await until(() => b.bus.stats.rejected >= 1, 5_000, 'garbage counted');
    assert.ok(
      b.lines.some((l) => l.msg === 'fleet message refused' && /not signed/.test(JSON.stringify(l.err))),
    );
    // any role that may connect may NOTIFY: a well-formed ban signed without the fleet's key
    const [forged] = encodeMessages(fleetKey('guessed'), 'a', [
      {
        type: 'ban',
        record: {
          target: '192.0.2.200',
          kind: 'blacklist',
          reason: 'forged',
          pattern: null,
          createdAt: Date.now(),
          expiresAt: null,
          createdBy: 'mallory',
          offences: 0,
          node: 'a',
        },
      },
    ]);
    await pg.query('fleet', "SELECT pg_notify('edgeban_fleet', $1)", [forged]);
    await until(() => b.bus.stats.rejected >= 2, 5_000, 'forgery counted');
    assert.ok(
      b.lines.some((l) => l.msg === 'fleet message refused' && /bad signature/.test(JSON.stringify(l.err))),
    );
    assert.ok(!b.banned('192.0.2.200'));
    a.engine.ban('203.0.113.10', { durationMs: 60_000 });
    await until(() => b.banned('203.0.113.10'), 5_000, 'next ban still shared');
  });

  test('a second node under the same name is noticed and named in the log', async () => {
    const twin = node('a', dsn);
    twin.bus.start();
    try {
      await until(() => twin.bus.isConnected, 10_000, 'twin listening');
      twin.engine.ban('198.51.100.77', { durationMs: 60_000 });
      await until(() => b.banned('198.51.100.77'), 5_000, 'b applies it (another node for b)');
      await until(
        () =>
          a.lines.some(
            (l) =>
              l.msg ===
              "another node of the fleet uses this node's name (fleet.node): its bans are not applied here",
          ),
        5_000,
        'clash logged on a',
      );
      assert.ok(!a.banned('198.51.100.77'));
    } finally {
      await twin.bus.stop();
    }
  });

  test('after a lost connection a node catches up from the bans table: missed bans in, lifted ones out', async () => {
    // a ban b got from node a a minute ago, and one a made just now (its row may not be written
    // yet: no store writes any here); b's write grace is 3 s, its reconnection 1.5 s away
    const minuteAgo = Date.now() - 60_000;
    b.engine.applyRemote({
      type: 'ban',
      record: {
        target: '203.0.113.20',
        kind: 'temp',
        reason: 'Too many failed attempts',
        pattern: 'dovecot-auth-failed',
        createdAt: minuteAgo,
        expiresAt: minuteAgo + 3_600_000,
        createdBy: 'engine',
        offences: 1,
        node: 'a',
      },
    });
    assert.ok(b.banned('203.0.113.20'));
    a.engine.ban('203.0.113.21', { durationMs: 3_600_000 });
    await until(() => b.banned('203.0.113.21'), 5_000, 'b has the young one');
    // cut b's listening connection; while it is away (1.5 s before it retries), node a's store
    // writes a new ban and the old one is gone from the table (lifted while b was away)
    const [{ n }] = await pg.query<{ n: string }>(
      'fleet',
      "SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE application_name = 'edgeban-fleet b'",
    );
    assert.equal(n, '1');
    await until(() => !b.bus.isConnected, 5_000, 'b notices');
    // b bans while it is away: the event waits for the connection
    b.engine.ban('198.51.100.99', { durationMs: 60_000 });
    const now = Date.now();
    await pg.query(
      'fleet',
      `INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count)
       VALUES ('2001:db8:7::/64', 'temp', 'Too many failed attempts', 'sshd-failed-password', $1, $2, 'engine', 'a', 3)`,
      [now, now + 600_000],
    );
    // and enough others to be read in several pages
    await pg.query(
      'fleet',
      `INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count)
       SELECT '10.77.' || (i / 256) || '.' || (i % 256), 'temp', 'burst', 'dovecot-auth-failed', $1, $2, 'engine', 'a', 1
       FROM generate_series(0, 11999) AS i`,
      [now, now + 600_000],
    );
    await until(() => b.bus.isConnected, 10_000, 'b reconnects');
    await until(() => b.banned('10.77.46.223'), 5_000, 'last page caught up');
    assert.ok(b.banned('10.77.0.0') && b.banned('10.77.23.111'));
    await until(() => b.banned('2001:db8:7::1234'), 5_000, 'missed ban caught up');
    await until(() => !b.banned('203.0.113.20'), 5_000, 'lifted ban dropped');
    assert.ok(b.banned('203.0.113.21'), 'a ban younger than the write grace is kept');
    assert.equal(b.bus.stats.reconnects, 1);
    assert.ok(b.lines.some((l) => l.msg === 'fleet connection lost; reconnecting'));
    assert.ok(b.lines.some((l) => l.msg === 'fleet caught up from the bans table'));
    // and b's own ban made while it was away reaches a once b is back
    await until(() => a.banned('198.51.100.99'), 5_000, 'b publishes what waited');
  });

  test('a catch-up while the store is away too waits for it, and runs once it answers', async () => {
    // a store that is not connected (as one still reconnecting after the same outage)
    const late = makeStore('postgres', dsn).store;
    const c = node('c', dsn, [100, 100], 3_000, late);
    c.bus.start();
    try {
      await until(() => c.bus.isConnected, 10_000, 'c listening');
      const now = Date.now();
      await pg.query(
        'fleet',
        `INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count)
         VALUES ('192.0.2.77', 'temp', 'missed', 'sshd-failed-password', $1, $2, 'engine', 'a', 1)`,
        [now, now + 600_000],
      );
      await pg.query(
        'fleet',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'edgeban-fleet c'",
      );
      await until(() => c.bus.stats.reconnects === 1 && c.bus.isConnected, 10_000, 'c reconnects');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(!c.banned('192.0.2.77'), 'nothing to read through while the store is away');
      await late.start();
      await until(() => c.banned('192.0.2.77'), 5_000, 'caught up once the store answers');
      assert.ok(c.lines.some((l) => l.msg === 'fleet caught up from the bans table'));
      assert.ok(!c.lines.some((l) => l.msg === 'fleet catch-up from the bans table failed'));
    } finally {
      await c.bus.stop();
      await late.stop();
    }
  });
});
