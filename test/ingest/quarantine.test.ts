import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { IngestPipeline } from '../../src/main/ingest/pipeline.js';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { SyslogStats } from '../../src/main/syslog/stats.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { memoryLogger, RecordingSink } from './harness.js';

const pool = new MatcherPool({
  threads: 1,
  patterns: [
    { name: 'evil', regex: '(a+)+$', ip_group: 1, severity: 1, description: '', enabled: true, raw: false },
    ...PRESETS.builtin,
  ],
});
after(() => pool.close());

test('a pattern that blows the batch time budget is quarantined at run time (new version, logged, counted)', async () => {
  const stats = new SyslogStats();
  const { log, lines } = memoryLogger();
  const sink = new RecordingSink();
  const p = new IngestPipeline({ pool, sink, stats, log, maxQueued: 10 });
  // ~8 KB hostile lines cost ~2 ms each even on the linear-time fallback: 100 of them exceed the
  // 50 ms batch budget, the worker profiles the next batch and names the culprit
  const hostile = Array.from({ length: 100 }, () => `x: ${'a'.repeat(8000)}!`);
  hostile.push('sshd: Invalid user u from 192.0.2.1 port 22');
  const v0 = pool.current.version;
  for (let round = 0; round < 4 && pool.current.skip.length === 0; round++) {
    p.submit(new TextEncoder().encode(hostile.join('\n')), hostile.length, Date.now());
    await p.idle();
  }
  assert.deepEqual(pool.current.skip, [0]);
  assert.ok(pool.current.version > v0);
  assert.equal(stats.quarantined, 1);
  assert.ok(lines.some((l) => l.pattern === 'evil' && String(l.msg).startsWith('pattern quarantined')));
  // the other patterns kept working all along, and still do
  const before = sink.failures.length;
  assert.ok(before >= 2);
  p.submit(new TextEncoder().encode(hostile.join('\n')), hostile.length, Date.now());
  await p.idle();
  assert.equal(sink.failures.length, before + 1);
});
