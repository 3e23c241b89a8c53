import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';

const pool = new MatcherPool({ threads: 2, patterns: PRESETS.builtin });
after(() => pool.close());

const batch = (n: number, third: number) =>
  new TextEncoder().encode(
    Array.from({ length: n }, (_, k) => `sshd: Invalid user u from 10.0.${third}.${k} port 22`).join('\n'),
  );

test('the matcher pool starts no worker before the first batch, then up to its size under load', async () => {
  assert.equal(pool.threads, 2);
  assert.equal(pool.running, 0);
  const first = await pool.run(batch(10, 1), 10, 1000, false);
  assert.equal(first.matches, 10);
  assert.ok(pool.running >= 1);
  // batches that arrive together get a worker each
  const results = await Promise.all([0, 1, 2, 3].map((i) => pool.run(batch(200, 10 + i), 200, 1000, false)));
  assert.deepEqual(
    results.map((r) => r.matches),
    [200, 200, 200, 200],
  );
  assert.equal(pool.running, 2);
});
