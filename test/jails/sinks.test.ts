import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { BanEngine } from '../../src/main/engine/index.js';
import { BanMapState } from '../../src/main/sinks/haproxy-map/state.js';
import { BanTable } from '../../src/shared/bantable/index.js';
import { jail } from '../helpers/jails.js';

test('the HAProxy map takes only bans of every service: scoped and would-be bans stay out; one of two jails lifted keeps it', () => {
  const clock = 1_800_000_000_000;
  const engine = new BanEngine({
    table: new BanTable({ initialCapacity: 1024 }),
    ...BanEngine.configOptions(defaultConfig().ban),
    nodeId: 'n1',
    now: () => clock,
  });
  engine.setJails([jail('sshd'), jail('mail', { services: ['imap'] }), jail('trial', { mode: 'shadow' })]);
  const state = new BanMapState(engine, () => clock);
  engine.onEvent((e) => {
    if (state.handle(e)) state.reconcile();
  });
  const entries = () => Object.fromEntries([...state.entries].sort());
  engine.ban('192.0.2.1', { jail: 'mail' });
  engine.ban('192.0.2.2', { jail: 'trial' });
  assert.deepEqual(entries(), {}, 'an imap-only ban and a would-be ban are not for the map');
  engine.ban('192.0.2.3', { jail: 'sshd', durationMs: 60_000 });
  engine.ban('192.0.2.3', { durationMs: 30_000 });
  assert.deepEqual(entries(), { '192.0.2.3': 'banned' });
  engine.unban('192.0.2.3', { jail: 'sshd' });
  assert.deepEqual(entries(), { '192.0.2.3': 'banned' }, 'the default jail still bans it everywhere');
  engine.unban('192.0.2.3', {});
  assert.deepEqual(entries(), {});
  state.reconcile();
  assert.deepEqual(entries(), {}, 'a full rebuild leaves scoped and shadow bans out too');
});
