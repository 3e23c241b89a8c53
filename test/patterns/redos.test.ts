import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { match, noMatch } from './fixtures.js';
import { matchLines } from './helpers.js';

const evil: PatternSpec = {
  name: 'evil',
  regex: '(a+)+$',
  ip_group: 1,
  severity: 1,
  description: 'catastrophic backtracking',
  enabled: true,
  raw: false,
};

/** Hostile lines: a long run of `a` that does not end the line, the classic (a+)+$ killer. */
const HOSTILE = Array.from({ length: 40 }, (_, i) => `attacker: ${'a'.repeat(200 + i * 50)}!`);

function corpus(): string[] {
  const out: string[] = [];
  for (let r = 0; r < 10; r++) {
    for (const f of match) out.push(f.line);
    for (const l of noMatch) out.push(l);
    out.push(HOSTILE[r * 4], HOSTILE[r * 4 + 1], HOSTILE[r * 4 + 2], HOSTILE[r * 4 + 3]);
  }
  return out;
}

describe('ReDoS guard', () => {
  test('a (a+)+$ pattern fed hostile lines leaves the other patterns working within a stated bound', () => {
    const lines = corpus();
    const t0 = performance.now();
    const base = matchLines(PRESETS.builtin, lines);
    const baseMs = performance.now() - t0;
    const t1 = performance.now();
    const guarded = matchLines([evil, ...PRESETS.builtin], lines);
    const guardedMs = performance.now() - t1;
    // same failures found, evil ran first on every line (and matched nothing usable)
    assert.deepEqual(
      guarded.map((f) => `${f.line} ${f.pattern} ${f.ip}`),
      base.map((f) => `${f.line} ${f.pattern} ${f.ip}`),
    );
    assert.equal(base.length, match.length * 10);
    // Stated bound: V8 reruns an over-backtracking regex on its linear-time engine, so each hostile
    // line costs at most ~25 ms of matcher time here (measured ≈ 0.1–0.5 ms). Unguarded, one such
    // line of 40+ characters takes longer than the age of the universe.
    const bound = baseMs + HOSTILE.length * 25 + 1000;
    assert.ok(
      guardedMs < bound,
      `guarded run took ${guardedMs.toFixed(0)} ms (bound ${bound.toFixed(0)} ms)`,
    );
  });

  test('without the guard the same pattern hangs (control run in a child process, killed after 3 s)', () => {
    const script = `
      const re = new RegExp('(a+)+$');
      re.exec('attacker: ' + 'a'.repeat(60) + '!');
      console.log('finished');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 3000,
      encoding: 'utf8',
    });
    assert.notEqual(r.stdout.trim(), 'finished');
    assert.equal(r.signal, 'SIGTERM');
  });

  test('a pattern that still blows the batch budget is profiled and reported for quarantine', () => {
    const m = new BatchMatcher();
    const specs = [evil, ...PRESETS.builtin];
    const payload = JSON.stringify({ version: 7, specs, skip: [] });
    const buf = () => new TextEncoder().encode(HOSTILE.join('\n'));
    const task = {
      version: 7,
      patterns: payload,
      count: HOSTILE.length,
      timeMs: 0,
      lineTime: false,
      maxLen: 0,
      budgetMs: 0.001,
    };
    const first = m.run({ ...task, buf: buf() });
    assert.deepEqual(first.slow, []); // over budget: the next batch is profiled
    const second = m.run({ ...task, buf: buf() });
    assert.ok(second.slow.includes(0), `evil (id 0) not reported: ${second.slow}`);
    // once skipped (new version with skip), evil no longer runs
    const third = m.run({
      ...task,
      version: 8,
      patterns: JSON.stringify({ version: 8, specs, skip: [0] }),
      buf: buf(),
    });
    assert.equal(third.matches, 0);
  });
});
