import { readFilter } from '../../src/main/fail2ban/filter.js';
import { filterPatterns } from '../../src/main/fail2ban/import.js';
import { LiveSessions } from '../../src/main/ingest/sessions.js';
import { canonicalIp, formatIp } from '../../src/shared/ip/parse.js';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import { REC_ADDR, REC_FAMILY, REC_LINE, RECORD_SIZE } from '../../src/shared/patterns/protocol.js';
import { evalCondition, FAIL2BAN_DIR, readSampleLog } from './oracle.js';
import { TEST_NOW_MS } from './parity.js';

/** One annotated line the live matcher decided otherwise. */
export interface LiveFailure {
  lineNo: number;
  line: string;
  want: { match: boolean; host?: string };
  got: { match: boolean; host: string | null };
  options: Record<string, string>;
}

export interface LiveParity {
  filter: string;
  checked: number;
  passed: number;
  /** Failregexes the import left out (multi-line ones, context lines), with the reason. */
  notImported: string[];
  /** Lines not checked: journal input, a host name (edgeban does not resolve), a Python condition. */
  skipped: number;
  failures: LiveFailure[];
}

let version = 1;

/**
 * Imports one filter (per option set of its sample log) as edgeban patterns and runs every
 * annotated line through the matcher the workers run, as a file source hands it over: the verdict
 * (a match, and the address it took) against the line's failJSON.
 */
export function liveParityOf(
  filter: string,
  dir = FAIL2BAN_DIR,
  how: { dropDatepattern?: boolean } = {},
): LiveParity {
  const log = readSampleLog(filter);
  const res: LiveParity = {
    filter,
    checked: 0,
    passed: 0,
    notImported: [],
    skipped: log.skipped,
    failures: [],
  };
  const matchers = new Map<
    string,
    { m: BatchMatcher; version: number; payload: string; names: string[]; sessions: LiveSessions }
  >();
  const notImported = new Set<string>();
  const matcherFor = (opts: Record<string, string>) => {
    const pure = Object.fromEntries(Object.entries(opts).filter(([k]) => !k.startsWith('test.')));
    const key = JSON.stringify(pure);
    let e = matchers.get(key);
    if (e === undefined) {
      const made = filterPatterns(readFilter(dir, filter, pure), `f2b-${filter}`);
      if (how.dropDatepattern) for (const p of made.patterns) delete p.datepattern;
      for (const r of made.regexes) if (r.reason !== null) notImported.add(`${r.index + 1}: ${r.reason}`);
      const v = version++;
      e = {
        m: new BatchMatcher(),
        version: v,
        payload: JSON.stringify({ version: v, specs: made.patterns, skip: [] }),
        names: made.patterns.map((p) => p.name),
        sessions: new LiveSessions(),
      };
      matchers.set(key, e);
    }
    return e;
  };
  const enc = new TextEncoder();
  for (const a of log.lines) {
    for (const opts of log.optionSets[a.block]) {
      const constraint = a.expect.constraint;
      if (typeof constraint === 'string' && evalCondition(constraint, filter, opts) !== true) {
        res.skipped++;
        continue;
      }
      const want = a.expect;
      const wantHost = typeof want.host === 'string' ? canonicalIp(want.host) : null;
      if (opts.logtype === 'journal' || (want.match && typeof want.host === 'string' && wantHost === null)) {
        res.skipped++;
        continue;
      }
      const e = matcherFor(opts);
      const r = e.m.run({
        version: e.version,
        patterns: e.payload,
        buf: enc.encode(a.line),
        count: 1,
        maxLen: 0,
        timeMs: TEST_NOW_MS,
        lineTime: false,
        budgetMs: 1000,
      });
      let host: string | null = null;
      if (r.matches > 0) {
        const rec = r.records;
        const ses = r.sessions?.[0] ?? '';
        // a session's line is decided as the main thread decides it, with the lines before
        if (ses === '') host = formatIp(rec.subarray(REC_ADDR, REC_ADDR + 16), rec[REC_FAMILY] as 4 | 6);
        else if (e.sessions.resolve(e.names[rec[0] | (rec[1] << 8)], ses, rec[REC_FAMILY], rec, REC_ADDR))
          host = formatIp(e.sessions.addr, e.sessions.family);
        if (host !== null && (rec.length > RECORD_SIZE || rec[REC_LINE] !== 0))
          host = `${host} (+${r.matches - 1})`;
      }
      const match = host !== null;
      res.checked++;
      if (match === Boolean(want.match) && (!match || wantHost === null || wantHost === host)) res.passed++;
      else
        res.failures.push({
          lineNo: a.lineNo,
          line: a.line,
          want: { match: Boolean(want.match), host: want.host },
          got: { match, host },
          options: opts,
        });
    }
  }
  res.notImported = [...notImported];
  return res;
}
