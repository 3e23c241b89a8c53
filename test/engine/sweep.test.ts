import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';

test('the periodic sweep expires 20k bans over several event-loop turns, not in one', async () => {
  let clock = Date.UTC(2026, 0, 1);
  const config = defaultConfig();
  config.ban.cleanup_interval = 20;
  const { engine } = createCore({ config, nodeId: 'n1', now: () => clock });
  for (let i = 0; i < 20_000; i++) engine.ban(`10.0.${i >>> 8}.${i & 255}`, { durationMs: 1000 });
  engine.ban('192.0.2.1', { durationMs: 3_600_000 });
  clock += 2000;
  engine.start();
  const seen = new Set<number>();
  const deadline = Date.now() + 10_000;
  while (engine.activeTempBans > 1) {
    assert.ok(Date.now() < deadline, `sweep stuck at ${engine.activeTempBans}`);
    seen.add(engine.activeTempBans);
    await turn();
  }
  engine.stop();
  const partial = [...seen].filter((n) => n > 1 && n < 20_001);
  assert.ok(partial.length >= 2, `between turns the sweep was part-way ${partial.length} times`);
  assert.equal(engine.activeTempBans, 1, 'the ban still running is kept');
});
