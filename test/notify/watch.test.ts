import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import type { Quarantine } from '../../src/main/ingest/pool.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { Notifier } from '../../src/main/notify/service.js';
import type { NotifyEvent } from '../../src/main/notify/types.js';
import type { DatabaseStatus } from '../../src/main/store/types.js';
import { jail } from '../helpers/jails.js';
import { waitFor } from '../ingest/harness.js';

/** The process states the notifier turns into events: a state change is one event, no repeats. */
test('a new quarantine and each database outage and recovery become one event each', async () => {
  const config = defaultConfig();
  config.notify.webhooks = [
    { url: 'http://127.0.0.1:9/', events: [], jails: [], secret: '', format: 'json' },
  ];
  const { engine } = createCore({ config, nodeId: 'n1' });
  const quarantined = new Map<string, Quarantine>();
  let db: DatabaseStatus = {
    enabled: true,
    connected: true,
    driver: 'postgres',
    failure_count: 0,
    last_successful_load: null,
    has_cached_config: true,
  };
  const n = new Notifier(
    { config, configPath: null, log: pino({ level: 'silent' }), metrics: new Metrics() },
    { engine, quarantined: () => quarantined, database: () => db },
  );
  const seen: NotifyEvent[] = [];
  n.emit = (e) => {
    seen.push(e);
  };
  await n.start();
  n.watch();
  assert.equal(seen.length, 0);
  quarantined.set('slow-one', { regex: '(a+)+$', since: 1000, reason: 'used most of a batch time budget' });
  n.watch();
  n.watch();
  db = { ...db, connected: false, last_error: 'ECONNREFUSED' };
  n.watch(5000);
  n.watch(6000);
  db = { ...db, connected: true };
  n.watch(7000);
  assert.deepEqual(
    seen.map((e) => [e.type, e.name ?? e.detail]),
    [
      ['quarantine', 'slow-one'],
      ['database_down', 'postgres: ECONNREFUSED'],
      ['database_up', 'postgres'],
    ],
  );
  // a ban made here is told; one that came from another node is not
  engine.ban('192.0.2.7', { durationMs: 60_000, reason: 'manual', createdBy: 'test' });
  assert.equal(seen.at(-1)?.type, 'ban');
  assert.equal(seen.at(-1)?.ip, '192.0.2.7');
  assert.equal(seen.at(-1)?.jail, 'default');
  await n.stop();
});

test('a jail ban and its unban are told with their jail', async () => {
  const config = defaultConfig();
  config.notify.webhooks = [
    { url: 'http://127.0.0.1:9/', events: [], jails: [], secret: '', format: 'json' },
  ];
  config.jails = [jail('mail', { patterns: ['dovecot-*'], services: ['imap'] })];
  const { engine } = createCore({ config, nodeId: 'n1' });
  const n = new Notifier(
    { config, configPath: null, log: pino({ level: 'silent' }), metrics: new Metrics() },
    { engine, quarantined: () => new Map(), database: () => null },
  );
  const seen: NotifyEvent[] = [];
  n.emit = (e) => {
    seen.push(e);
  };
  await n.start();
  engine.ban('192.0.2.8', { durationMs: 60_000, reason: 'manual', createdBy: 'test', jail: 'mail' });
  assert.equal(seen.at(-1)?.jail, 'mail');
  engine.unban('192.0.2.8', { by: 'test', jail: 'mail' });
  assert.equal(seen.at(-1)?.type, 'unban');
  assert.equal(seen.at(-1)?.jail, 'mail');
  await n.stop();
});

test('undici is loaded only when a webhook posts: a process without webhooks never loads it', async () => {
  const none = defaultConfig();
  const { engine } = createCore({ config: none, nodeId: 'n1' });
  const ctx = { config: none, configPath: null, log: pino({ level: 'silent' }), metrics: new Metrics() };
  const idle = new Notifier(ctx, { engine, quarantined: () => new Map(), database: () => null });
  await idle.start();
  engine.ban('192.0.2.8', { durationMs: 60_000, reason: 'manual', createdBy: 'test' });
  idle.watch();
  assert.equal(idle.client.loaded, false, 'no webhook: no undici');
  await idle.stop();

  // with a webhook, the first post loads it, and every later one shares the same pool
  const hooked = defaultConfig();
  hooked.notify.webhooks = [
    { url: 'http://127.0.0.1:9/', events: [], jails: [], secret: '', format: 'json' },
  ];
  hooked.notify.batch_delay = 1;
  const core = createCore({ config: hooked, nodeId: 'n1' });
  const n = new Notifier(
    { ...ctx, config: hooked, metrics: new Metrics() },
    { engine: core.engine, quarantined: () => new Map(), database: () => null },
  );
  await n.start();
  assert.equal(n.client.loaded, false, 'nothing posted yet');
  core.engine.ban('192.0.2.9', { durationMs: 60_000, reason: 'manual', createdBy: 'test' });
  await waitFor(() => n.client.loaded, 5000); // the first post loads undici
  const first = await n.client.get();
  assert.equal(await n.client.get(), first, 'one client for every post');
  assert.equal(typeof first.request, 'function');
  await n.stop();
});
