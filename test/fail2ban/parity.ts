import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fail2banFilter } from '../../src/main/fail2ban/engine.js';
import { readFilter } from '../../src/main/fail2ban/filter.js';
import { evalCondition, FAIL2BAN_DIR, readSampleLog, SAMPLES_DIR } from './oracle.js';

// fail2ban's sample test runs in this zone ("CET-01CEST-02" in its utils) at this time
process.env.TZ = 'Europe/Zurich';
/** Sun Aug 14 12:00:00 CEST 2005: fail2ban's TEST_NOW, the "now" of year-less sample dates. */
export const TEST_NOW_MS = 1_124_013_600_000;

export interface Failure {
  file: string;
  lineNo: number;
  line: string;
  want: { match: boolean; host?: string; time?: string };
  got: { match: boolean; host: string | null; time?: string };
  options: Record<string, string>;
}

export interface FilterParity {
  filter: string;
  checked: number;
  passed: number;
  skipped: number;
  /** Matched lines whose annotation gives a time, and those where edgeban finds that time. */
  timeChecked: number;
  timePassed: number;
  failures: Failure[];
  /** The filter could not be read or compiled at all. */
  error: string | null;
}

/** Filters of the tree that have a sample log in fail2ban's corpus. */
/** Every log line of every sample file (no comments, no blanks), in file order. */
export function sampleLogLines(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(SAMPLES_DIR)) {
    let text: string;
    try {
      text = readFileSync(join(SAMPLES_DIR, f), 'utf8');
    } catch {
      continue; // a directory
    }
    for (const l of text.split('\n')) if (l !== '' && !l.startsWith('#')) out.push(l);
  }
  return out;
}

export function filtersWithSamples(dir = FAIL2BAN_DIR): string[] {
  return readdirSync(join(dir, 'filter.d'))
    .filter((f) => f.endsWith('.conf') && f !== 'common.conf')
    .map((f) => f.slice(0, -5))
    .filter((n) => existsSync(join(SAMPLES_DIR, n)))
    .sort();
}

/** Replays one filter's sample log and compares every annotated line with its failJSON. */
export function parityOf(filter: string, dir = FAIL2BAN_DIR): FilterParity {
  const log = readSampleLog(filter);
  const res: FilterParity = {
    filter,
    checked: 0,
    passed: 0,
    skipped: log.skipped,
    timeChecked: 0,
    timePassed: 0,
    failures: [],
    error: null,
  };
  const engines = new Map<string, { f: Fail2banFilter; opts: Record<string, string> }>();
  const engineFor = (opts: Record<string, string>) => {
    const key = JSON.stringify(opts);
    let e = engines.get(key);
    if (e === undefined) {
      const pure = Object.fromEntries(Object.entries(opts).filter(([k]) => !k.startsWith('test.')));
      e = { f: new Fail2banFilter(readFilter(dir, filter, pure), () => TEST_NOW_MS), opts };
      engines.set(key, e);
    }
    return e;
  };
  try {
    for (const a of log.lines) {
      for (const opts of log.optionSets[a.block]) {
        const { f } = engineFor(opts);
        const constraint = a.expect.constraint;
        if (typeof constraint === 'string') {
          const holds = evalCondition(constraint, filter, opts);
          if (holds !== true) {
            // fail2ban's test does not feed the line to this option set either
            if (holds === null) res.skipped++;
            continue;
          }
        }
        const journal = opts.logtype === 'journal';
        const line = journal ? (opts['test.prefix-line'] ?? '') + a.line : a.line;
        const v = f.processLine(line, journal);
        const match = v.verdict === 'matched' && v.host !== null;
        const want = a.expect;
        res.checked++;
        let ok = match === Boolean(want.match) && (!match || want.host === undefined || want.host === v.host);
        let got: string | undefined;
        if (ok && match && typeof want.time === 'string' && !journal) {
          // failJSON times are local wall-clock times, compared to the second as fail2ban does
          const t = /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/.exec(want.time);
          res.timeChecked++;
          if (t !== null && v.timeMs !== null) {
            const exp = new Date(+t[1], +t[2] - 1, +t[3], +t[4], +t[5], +t[6]).getTime();
            got = new Date(v.timeMs).toString();
            if (Math.floor(v.timeMs / 1000) === exp / 1000) res.timePassed++;
            else ok = false;
          } else ok = false;
        }
        if (ok) res.passed++;
        else {
          res.failures.push({
            file: a.file,
            lineNo: a.lineNo,
            line: a.line,
            want: { match: Boolean(want.match), host: want.host, time: want.time },
            got: { match, host: v.host, time: got },
            options: opts,
          });
        }
      }
    }
  } catch (err) {
    res.error = (err as Error).message;
  }
  return res;
}
