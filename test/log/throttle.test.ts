import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogThrottle } from '../../src/main/log/throttle.js';
import { memoryLogger } from '../ingest/harness.js';

test('a repeated warning is written once per window per source, with the count of the rest', () => {
  const { log, lines } = memoryLogger();
  let now = 1_000_000;
  const t = new LogThrottle(log, { windowMs: 1000, now: () => now });
  for (let i = 0; i < 500; i++) t.warn('bad-frame', '10.0.0.1', { peer: '10.0.0.1', i }, 'bad frame');
  t.warn('bad-frame', '10.0.0.2', { peer: '10.0.0.2' }, 'bad frame');
  assert.equal(lines.length, 2);
  assert.equal(t.suppressedTotal, 499);
  now += 1001;
  t.warn('bad-frame', '10.0.0.1', { peer: '10.0.0.1' }, 'bad frame');
  assert.equal(lines.length, 3);
  assert.equal(lines[2]?.suppressed, 499);
  t.close();
});

test('a window that ends quietly still reports what it suppressed', () => {
  const { log, lines } = memoryLogger();
  let now = 0;
  const t = new LogThrottle(log, { windowMs: 1000, now: () => now });
  for (let i = 0; i < 10; i++) t.warn('auth', 'p', { peer: 'p' }, 'API authentication failed');
  now = 2000;
  t.flush();
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.suppressed, 9);
  assert.match(String(lines[1]?.msg), /repeated/);
  t.close();
});

test('distinct sources past the key bound share one key: memory stays bounded', () => {
  const { log, lines } = memoryLogger();
  const now = 0;
  const t = new LogThrottle(log, { windowMs: 60_000, maxKeys: 16, now: () => now });
  for (let i = 0; i < 10_000; i++) t.warn('refused', `198.51.${i >> 8}.${i & 255}`, { i }, 'refused');
  // 16 sources get their own line, the rest one shared line
  assert.equal(lines.length, 17);
  assert.equal(t.suppressedTotal, 10_000 - 17);
  t.close();
  assert.equal(lines.at(-1)?.suppressed, 10_000 - 17);
});
