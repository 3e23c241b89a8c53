import { FORMAT_NONE, lineTimeMs, parseSyslog, patternText, SyslogHeader } from '../syslog/parse.js';
import {
  type MatchResult,
  type MatchTask,
  type PatternSetPayload,
  REC_ADDR,
  REC_FAMILY,
  REC_LINE,
  REC_PATTERN,
  RECORD_SIZE,
} from './protocol.js';
import { LineMatcher, PatternSet } from './set.js';

const decoder = new TextDecoder('utf-8');

/**
 * Runs a batch of lines through one pattern-set version: the worker's job, also usable in-thread
 * (tests, small replays). Keeps compiled versions (the current and the previous one, so batches
 * in flight across a reload still resolve) and a per-instance profiling flag for the time budget.
 */
export class BatchMatcher {
  private readonly versions = new Map<number, LineMatcher>();
  private readonly header = new SyslogHeader();
  private profileNext = false;

  matcherFor(version: number, payloadJson: string): LineMatcher {
    let m = this.versions.get(version);
    if (m === undefined) {
      const payload = JSON.parse(payloadJson) as PatternSetPayload;
      m = new LineMatcher(new PatternSet(payload.version, payload.specs));
      for (const id of payload.skip) if (id < m.skip.length) m.skip[id] = 1;
      this.versions.set(version, m);
      if (this.versions.size > 2) {
        const oldest = Math.min(...this.versions.keys());
        this.versions.delete(oldest);
      }
    }
    return m;
  }

  run(task: MatchTask): MatchResult {
    const t0 = performance.now();
    const matcher = this.matcherFor(task.version, task.patterns);
    const n = matcher.set.patterns.length;
    const profiling = this.profileNext;
    matcher.profile = profiling ? new Float64Array(n) : null;
    const perPattern = new Uint32Array(n);
    const s = decoder.decode(task.buf);
    const h = this.header;
    let cap = 16;
    let records = new Uint8Array(cap * RECORD_SIZE);
    let times = new Float64Array(records.buffer);
    let matches = 0;
    let parseFailures = 0;
    let line = 0;
    let truncated = 0;
    const maxLen = task.maxLen > 0 ? task.maxLen : Number.MAX_SAFE_INTEGER;
    let i = 0;
    const len = s.length;
    while (i < len) {
      let j = s.indexOf('\n', i);
      if (j < 0) j = len;
      // receivers hand over clean lines; replays hand over raw file chunks: normalise here
      let e = j;
      while (e > i && (s.charCodeAt(e - 1) === 13 || s.charCodeAt(e - 1) === 0)) e--;
      if (e === i) {
        i = j + 1;
        continue;
      }
      if (e - i > maxLen) {
        e = i + maxLen;
        truncated++;
      }
      if (parseSyslog(s, i, e, h) === FORMAT_NONE) parseFailures++;
      const body = matcher.set.needsBody ? patternText(s, h) : '';
      const raw = matcher.set.needsRaw ? s.slice(i, e) : '';
      const id = matcher.match(body, raw, h.tagStart >= 0 ? s.slice(h.tagStart, h.tagEnd) : null);
      if (id >= 0) {
        if (matches === cap) {
          cap *= 2;
          const bigger = new Uint8Array(cap * RECORD_SIZE);
          bigger.set(records);
          records = bigger;
          times = new Float64Array(records.buffer);
        }
        const o = matches * RECORD_SIZE;
        records[o + REC_PATTERN] = id & 0xff;
        records[o + REC_PATTERN + 1] = id >>> 8;
        records[o + REC_FAMILY] = matcher.family;
        records.set(matcher.addr.subarray(0, matcher.family === 4 ? 4 : 16), o + REC_ADDR);
        records[o + REC_LINE] = line & 0xff;
        records[o + REC_LINE + 1] = (line >>> 8) & 0xff;
        records[o + REC_LINE + 2] = (line >>> 16) & 0xff;
        records[o + REC_LINE + 3] = line >>> 24;
        let t = task.timeMs;
        if (task.lineTime) {
          const own = lineTimeMs(s, h, task.timeMs);
          if (!Number.isNaN(own)) t = own;
        }
        times[matches * 4 + 3] = t;
        perPattern[id]++;
        matches++;
      }
      line++;
      i = j + 1;
    }
    const elapsedMs = performance.now() - t0;
    const slow: number[] = [];
    if (profiling && matcher.profile !== null) {
      const limitNs = (task.budgetMs / 2) * 1e6;
      for (let k = 0; k < n; k++) if (matcher.profile[k] > limitNs) slow.push(k);
      matcher.profile = null;
    }
    this.profileNext = elapsedMs > task.budgetMs;
    return {
      version: task.version,
      lines: line,
      truncated,
      records: records.subarray(0, matches * RECORD_SIZE),
      matches,
      perPattern,
      parseFailures,
      elapsedMs,
      slow,
    };
  }
}
