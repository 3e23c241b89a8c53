import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { IngestPipeline } from '../../src/main/ingest/pipeline.js';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { SyslogStats } from '../../src/main/syslog/stats.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
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

test('a quarantine survives reloads until the regex changes or it is lifted', () => {
  const local = new MatcherPool({
    threads: 1,
    patterns: [
      { name: 'evil', regex: '(a+)+$', ip_group: 1, severity: 1, description: '', enabled: true, raw: false },
      ...PRESETS.sshd,
    ],
  });
  try {
    local.quarantine(0, 'slow');
    assert.deepEqual(local.current.skip, [0]);
    const q = local.quarantined.get('evil');
    assert.equal(q?.reason, 'slow');
    assert.equal(q?.regex, '(a+)+$');
    // an unrelated change (a new pattern in front, so ids shift): evil stays out, by name
    const extra = { ...PRESETS.dovecot[0] };
    local.setPatterns([extra, ...JSON.parse(local.current.json).specs]);
    const evilId = local.current.set.patterns.findIndex((p) => p.name === 'evil');
    assert.deepEqual(local.current.skip, [evilId]);
    assert.equal(local.quarantined.get('evil')?.since, q?.since);
    // the operator lifts it: it runs again
    assert.equal(local.lift('evil'), true);
    assert.deepEqual(local.current.skip, []);
    assert.equal(local.lift('evil'), false);
    // quarantined again, then its regex changes: the new regex runs
    local.quarantine(evilId);
    const specs = JSON.parse(local.current.json).specs as PatternSpec[];
    local.setPatterns(specs.map((s) => (s.name === 'evil' ? { ...s, regex: 'evil from ([0-9.]+)' } : s)));
    assert.deepEqual(local.current.skip, []);
    assert.equal(local.quarantined.size, 0);
  } finally {
    void local.close();
  }
});
