import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IngestPipeline } from '../../src/main/ingest/pipeline.js';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { SyslogStats } from '../../src/main/syslog/stats.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { freePort } from '../helpers/net.js';
import { memoryLogger, RecordingSink } from './harness.js';

describe('bounded queue', () => {
  const pool = new MatcherPool({ threads: 1, patterns: PRESETS.builtin });
  after(() => pool.close());

  test('when the pool falls behind, batches beyond the queue are shed, counted and logged; order kept', async () => {
    const stats = new SyslogStats();
    const { log, lines } = memoryLogger();
    const sink = new RecordingSink();
    const p = new IngestPipeline({ pool, sink, stats, log, maxQueued: 2 });
    const accepted: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      const text = Array.from(
        { length: 100 },
        (_, k) => `sshd: Invalid user u from 10.0.${i}.${k} port 22`,
      ).join('\n');
      accepted.push(p.submit(new TextEncoder().encode(text), 100, 1000 + i));
    }
    // 2 in flight (threads × 2) + 2 queued; the other 16 shed
    assert.equal(accepted.filter(Boolean).length, 4);
    assert.equal(stats.shedBatches, 16);
    assert.equal(stats.shedLines, 1600);
    assert.ok(lines.some((l) => l.msg === 'matcher pool behind: syslog lines shed' && l.shed === 100));
    await p.idle();
    assert.equal(sink.failures.length, 400);
    // delivered in submission order, whichever worker finished first
    const batches = sink.failures.map((f) => Number(f.ip.split('.')[2]));
    assert.deepEqual([...new Set(batches)], [0, 1, 2, 3]);
    assert.deepEqual(
      sink.failures.slice(0, 3).map((f) => f.timeMs),
      [1000, 1000, 1000],
    );
  });
});

describe('delivery in slices', () => {
  const pool = new MatcherPool({ threads: 1, patterns: PRESETS.builtin });
  after(() => pool.close());

  test('a batch of thousands of matches reaches the engine over several turns, in line order, before idle()', async () => {
    const stats = new SyslogStats();
    const { log } = memoryLogger();
    const turns: number[] = [];
    let turn = 0;
    const sink = new RecordingSink();
    const counting = {
      recordFailure: (addr: Uint8Array, family: 4 | 6, pattern: string, timeMs: number) => {
        turns.push(turn);
        return sink.recordFailure(addr, family, pattern, timeMs);
      },
    };
    const p = new IngestPipeline({ pool, sink: counting, stats, log, maxQueued: 4 });
    const n = 3000;
    const text = Array.from(
      { length: n },
      (_, k) => `sshd: Invalid user u from 10.1.${k >> 8}.${k & 255} port 22`,
    ).join('\n');
    p.submit(new TextEncoder().encode(text), n, 1000);
    // count the event-loop turns while it delivers
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    await p.idle();
    ticking = false;
    assert.equal(sink.failures.length, n, 'every match delivered before idle() resolved');
    for (let k = 0; k < n; k += 997) assert.equal(sink.failures[k].ip, `10.1.${k >> 8}.${k & 255}`);
    const distinct = new Set(turns).size;
    assert.ok(distinct >= Math.ceil(n / 256), `delivered over ${distinct} turns, not one long one`);
    assert.equal(p.linesProcessed, n);
  });
});

describe('privileged port fallback', () => {
  test('EACCES on port 514 → listens on the fallback port and says so', async () => {
    const fallback = await freePort();
    const mod = fileURLToPath(new URL('./fallback-child.js', import.meta.url));
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, [mod, String(fallback)], {
      encoding: 'utf8',
      timeout: 20_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { udpPort: number; log: string[] };
    assert.equal(out.udpPort, fallback);
    assert.ok(
      out.log.some(
        (m) => m.includes('binding port 514 needs privileges (EACCES)') && m.includes(String(fallback)),
      ),
      out.log.join('\n'),
    );
  });
});
