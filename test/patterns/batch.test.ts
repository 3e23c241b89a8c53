import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { REC_LINE, RECORD_SIZE } from '../../src/shared/patterns/protocol.js';
import { match, noMatch } from './fixtures.js';
import { matchLines } from './helpers.js';

test('a batch decoded in several chunks keeps every line, its number and its match', () => {
  // ~600 KB: many 64 KiB chunks, multi-byte characters around the cuts, one line longer than a chunk
  const lines: string[] = [];
  const expected = new Map<number, string>();
  for (let k = 0; lines.length < 5000; k++) {
    if (k % 7 === 3) {
      const f = match[k % match.length];
      expected.set(lines.length, f.ip);
      lines.push(f.line);
    } else {
      lines.push(`${noMatch[k % noMatch.length]} — ünïcødé ${'é'.repeat(k % 40)}`);
    }
    if (lines.length === 2500) {
      const f = match[0];
      expected.set(lines.length, f.ip);
      lines.push(`${f.line}${' '.repeat(100_000)}`); // trailing spaces do not change the match
    }
  }
  const found = matchLines(PRESETS.builtin, lines);
  assert.deepEqual(
    found.map((f) => [f.line, f.ip]),
    [...expected].map(([line, ip]) => [line, ip]),
  );

  const r = new BatchMatcher().run({
    version: 1,
    patterns: JSON.stringify({ version: 1, specs: PRESETS.builtin, skip: [] }),
    buf: new TextEncoder().encode(lines.join('\n')),
    count: lines.length,
    timeMs: 0,
    lineTime: false,
    maxLen: 0,
    budgetMs: 10_000,
  });
  assert.equal(r.lines, lines.length);
  assert.equal(r.matches, expected.size);
  const last = new DataView(r.records.buffer, r.records.byteOffset).getUint32(
    (r.matches - 1) * RECORD_SIZE + REC_LINE,
    true,
  );
  assert.equal(last, Math.max(...expected.keys()));
});
