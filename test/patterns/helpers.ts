import { formatIp } from '../../src/shared/ip/parse.js';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import {
  type MatchResult,
  REC_ADDR,
  REC_FAMILY,
  REC_PATTERN,
  RECORD_SIZE,
} from '../../src/shared/patterns/protocol.js';
import { PatternSet } from '../../src/shared/patterns/set.js';

export interface Found {
  line: number;
  pattern: string;
  ip: string;
  timeMs: number;
}

let version = 1000;

/** Runs `lines` through the worker's matcher in this thread, as one batch. */
export function runBatch(
  specs: readonly PatternSpec[],
  lines: string[],
  lineTime = false,
  timeMs = 1_000,
): MatchResult {
  const m = new BatchMatcher();
  const v = version++;
  return m.run({
    version: v,
    patterns: JSON.stringify({ version: v, specs, skip: [] }),
    buf: new TextEncoder().encode(lines.join('\n')),
    count: lines.length,
    timeMs,
    lineTime,
    maxLen: 0,
    budgetMs: 10_000,
  });
}

/** Runs `lines` through the worker's matcher in this thread; returns the match records decoded. */
export function matchLines(
  specs: readonly PatternSpec[],
  lines: string[],
  lineTime = false,
  timeMs = 1_000,
): Found[] {
  const set = new PatternSet(0, specs);
  const r = runBatch(specs, lines, lineTime, timeMs);
  const out: Found[] = [];
  const times = new Float64Array(r.records.buffer, r.records.byteOffset, (r.matches * RECORD_SIZE) / 8);
  for (let k = 0; k < r.matches; k++) {
    const o = k * RECORD_SIZE;
    const id = r.records[o + REC_PATTERN] | (r.records[o + REC_PATTERN + 1] << 8);
    const fam = r.records[o + REC_FAMILY] as 4 | 6;
    const line = new DataView(r.records.buffer, r.records.byteOffset + o + 20, 4).getUint32(0, true);
    out.push({
      line,
      pattern: set.patterns[id].name,
      ip: formatIp(r.records.subarray(o + REC_ADDR, o + REC_ADDR + 16), fam),
      timeMs: times[k * 4 + 3],
    });
  }
  return out;
}
