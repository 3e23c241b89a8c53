import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { Config } from '../../src/main/config/types.js';
import { createCore } from '../../src/main/core.js';
import type { BanEvent, BanRecord } from '../../src/main/engine/types.js';
import { createFleetService } from '../../src/main/fleet/service.js';
import { testContext } from '../ingest/harness.js';

/** What a node does with bans and unbans the fleet tells it about. */
function engine(ignoreIps: string[] = []) {
  const config = defaultConfig();
  config.ban.ignore_ips = ignoreIps;
  const { engine: e, isBanned } = createCore({ config, nodeId: 'here' });
  const events: BanEvent[] = [];
  e.onEvent((x) => events.push(x));
  return { e, events, banned: isBanned };
}

const remote = (target: string, over: Partial<BanRecord> = {}): BanEvent & { type: 'ban' } => ({
  type: 'ban',
  record: {
    target,
    kind: 'temp',
    reason: 'Too many failed attempts',
    pattern: 'sshd-failed-password',
    createdAt: Date.now(),
    expiresAt: Date.now() + 600_000,
    createdBy: 'engine',
    offences: 3,
    node: 'there',
    ...over,
  },
});

test('a remote ban is applied once; a repeat, an older copy or an expired one changes nothing', () => {
  const { e, events, banned } = engine();
  const ban = remote('192.0.2.5');
  assert.equal(e.applyRemote(ban), true);
  assert.ok(banned('192.0.2.5'));
  assert.equal(e.applyRemote(ban), false, 'same ban again');
  assert.equal(e.applyRemote(remote('192.0.2.5', { expiresAt: Date.now() + 1_000 })), false, 'shorter');
  assert.equal(e.applyRemote(remote('192.0.2.6', { expiresAt: Date.now() - 1 })), false, 'expired');
  assert.ok(!banned('192.0.2.6'));
  assert.equal(events.length, 1);
  assert.equal(events[0].type === 'ban' && events[0].origin, 'fleet');
  // escalation continues from the other node's count
  assert.equal(e.status('192.0.2.5').offences, 3);
});

test("this node's ban.ignore_ips are never banned by another node", () => {
  const { e, banned } = engine(['10.0.0.0/8']);
  assert.equal(e.applyRemote(remote('10.1.2.3')), false);
  assert.ok(!banned('10.1.2.3'));
});

test("a remote whitelist entry hides this node's bans it covers; its removal brings them back", () => {
  const { e, events, banned } = engine();
  e.ban('198.51.100.9', { durationMs: 3_600_000 });
  events.length = 0;
  const wl = remote('198.51.100.0/24', { kind: 'whitelist', expiresAt: null, pattern: null });
  assert.equal(e.applyRemote(wl), true);
  assert.ok(!banned('198.51.100.9'));
  assert.equal(
    events.find((x) => x.type === 'unban'),
    undefined,
    'the ban is hidden, not lifted: the store keeps it',
  );
  // and removing it remotely takes the entry away again
  assert.equal(
    e.applyRemote({
      type: 'unban',
      target: '198.51.100.0/24',
      kind: 'whitelist',
      by: 'ops',
      reason: '',
      at: Date.now(),
    }),
    true,
  );
  assert.ok(banned('198.51.100.9'));
  assert.equal(e.list('whitelist', {}).total, 0);
});

test("a remote removal leaves this node's config-file list entries alone", () => {
  const { e, banned } = engine();
  e.replaceLists('config', [
    { ...remote('192.0.2.0/24').record, kind: 'blacklist', expiresAt: null, node: 'here' },
  ]);
  const removal = {
    type: 'unban',
    target: '192.0.2.0/24',
    kind: 'blacklist',
    by: 'ops',
    reason: '',
    at: Date.now(),
  } as const;
  assert.equal(e.applyRemote(removal), false);
  assert.ok(banned('192.0.2.9'));
});

test('the fleet runs only on PostgreSQL and only with a secret to sign with', () => {
  const fleetOf = (mutate: (c: Config) => void) => {
    const ctx = testContext(mutate);
    return { svc: createFleetService(ctx, engine().e, null), lines: ctx.logLines };
  };
  const pg =
    (dsn: string, secret = '') =>
    (c: Config) => {
      c.database.driver = 'postgres';
      c.database.dsn = dsn;
      c.fleet.secret = secret;
    };
  assert.equal(fleetOf(() => {}).svc, null, 'SQLite: one node');
  const noSecret = fleetOf(pg('postgres://edgeban@db.internal/edgeban'));
  assert.equal(noSecret.svc, null, 'no password, no fleet.secret');
  assert.ok(
    noSecret.lines.some((l) => l.level === 40 && /fleet sharing off: no fleet.secret/.test(String(l.msg))),
  );
  assert.ok(fleetOf(pg('postgres://edgeban:pw@db.internal/edgeban')).svc, 'the DSN password signs');
  assert.ok(fleetOf(pg('host=db.internal user=edgeban', 'fleet-secret')).svc, 'fleet.secret signs');
  assert.equal(
    fleetOf((c) => {
      pg('postgres://edgeban:pw@db.internal/edgeban')(c);
      c.fleet.enabled = false;
    }).svc,
    null,
    'fleet.enabled: false',
  );
});
