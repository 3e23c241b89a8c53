import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { BanEngine } from '../../src/main/engine/index.js';
import { BanMapState, type MapValue } from '../../src/main/sinks/haproxy-map/state.js';
import { BanTable } from '../../src/shared/bantable/index.js';

function setup() {
  let clock = 1_800_000_000_000;
  const engine = new BanEngine({
    table: new BanTable({ initialCapacity: 1024 }),
    ...BanEngine.configOptions(defaultConfig().ban),
    nodeId: 'n1',
    now: () => clock,
  });
  const state = new BanMapState(engine, () => clock);
  const changes: [string, MapValue | null][] = [];
  state.onChange((t, v) => changes.push([t, v]));
  engine.onEvent((e) => {
    if (state.handle(e)) state.reconcile();
  });
  return { engine, state, changes, tick: (ms: number) => (clock += ms) };
}

const entries = (s: BanMapState) => Object.fromEntries([...s.entries].sort());

test('bans, blacklist, unban and expiry follow the engine; only changes are reported', () => {
  const { engine, state, changes, tick } = setup();
  engine.ban('192.0.2.1', { durationMs: 10_000 });
  engine.blacklistAdd('198.51.100.0/24', {});
  engine.ban('198.51.100.0/24', { durationMs: 10_000 });
  assert.deepEqual(entries(state), { '192.0.2.1': 'banned', '198.51.100.0/24': 'blacklisted' });
  engine.blacklistRemove('198.51.100.0/24', {});
  assert.deepEqual(entries(state), { '192.0.2.1': 'banned', '198.51.100.0/24': 'banned' });
  engine.unban('192.0.2.1', {});
  tick(10_001);
  assert.equal(state.expire(), true);
  assert.equal(state.expired, 1);
  assert.deepEqual(entries(state), {});
  assert.deepEqual(changes, [
    ['192.0.2.1', 'banned'],
    ['198.51.100.0/24', 'blacklisted'],
    ['198.51.100.0/24', 'banned'],
    ['192.0.2.1', null],
    ['198.51.100.0/24', null],
  ]);
});

test('a whitelist entry hides the bans it covers and carves an exception out of a wider one', () => {
  const { engine, state } = setup();
  engine.ban('203.0.113.5', { durationMs: 60_000 });
  engine.blacklistAdd('10.0.0.0/8', {});
  engine.whitelistAdd('203.0.113.0/24', {});
  engine.whitelistAdd('10.1.2.3', {});
  assert.deepEqual(entries(state), {
    '10.0.0.0/8': 'blacklisted',
    '10.1.2.3': 'allowed',
    '203.0.113.0/24': 'allowed',
  });
  engine.whitelistRemove('203.0.113.0/24', {});
  assert.deepEqual(entries(state), {
    '10.0.0.0/8': 'blacklisted',
    '10.1.2.3': 'allowed',
    '203.0.113.5': 'banned',
  });
});

test('reconcile picks up what the engine never reported (restore, list reloads)', () => {
  const { engine, state, changes } = setup();
  const now = Date.now();
  engine.restore(
    [
      {
        target: '192.0.2.9',
        kind: 'temp',
        reason: 'r',
        pattern: null,
        createdAt: now,
        expiresAt: 1_800_000_000_000 + 60_000,
        createdBy: 'engine',
        offences: 1,
        node: 'n1',
      },
    ],
    [],
  );
  engine.replaceLists('config', [
    {
      target: '198.51.100.7',
      kind: 'blacklist',
      reason: '',
      pattern: null,
      createdAt: now,
      expiresAt: null,
      createdBy: 'config',
      offences: 0,
      node: 'n1',
    },
  ]);
  assert.deepEqual(entries(state), {});
  state.reconcile();
  assert.deepEqual(entries(state), { '192.0.2.9': 'banned', '198.51.100.7': 'blacklisted' });
  const n = changes.length;
  state.reconcile();
  assert.equal(changes.length, n, 'a second reconcile with nothing new reports nothing');
});

test('expiry runs in bounded slices that resume where they stopped', () => {
  const { engine, state, tick } = setup();
  for (let i = 1; i <= 10; i++) engine.ban(`192.0.2.${i}`, { durationMs: i <= 7 ? 1000 : 60_000 });
  tick(1001);
  assert.equal(state.expire(3), false);
  assert.equal(state.expired, 3);
  assert.equal(state.expire(3), false);
  assert.equal(state.expire(3), false);
  assert.equal(state.expire(3), true);
  assert.equal(state.expired, 7);
  assert.deepEqual(Object.keys(entries(state)), ['192.0.2.10', '192.0.2.8', '192.0.2.9']);
});
