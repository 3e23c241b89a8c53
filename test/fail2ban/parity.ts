import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Fail2banFilter } from '../../src/main/fail2ban/engine.js';
import { readFilter } from '../../src/main/fail2ban/filter.js';
import { FAIL2BAN_DIR, readSampleLog, SAMPLES_DIR } from './oracle.js';

export interface Failure {
  file: string;
  lineNo: number;
  line: string;
  want: { match: boolean; host?: string };
  got: { match: boolean; host: string | null };
  options: Record<string, string>;
}

export interface FilterParity {
  filter: string;
  checked: number;
  passed: number;
  skipped: number;
  failures: Failure[];
  /** The filter could not be read or compiled at all. */
  error: string | null;
}

/** Filters of the tree that have a sample log in fail2ban's corpus. */
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
    failures: [],
    error: null,
  };
  const engines = new Map<string, { f: Fail2banFilter; opts: Record<string, string> }>();
  const engineFor = (opts: Record<string, string>) => {
    const key = JSON.stringify(opts);
    let e = engines.get(key);
    if (e === undefined) {
      const pure = Object.fromEntries(Object.entries(opts).filter(([k]) => !k.startsWith('test.')));
      e = { f: new Fail2banFilter(readFilter(dir, filter, pure)), opts };
      engines.set(key, e);
    }
    return e;
  };
  try {
    for (const a of log.lines) {
      for (const opts of log.optionSets[a.block]) {
        const { f } = engineFor(opts);
        const journal = opts.logtype === 'journal';
        const line = journal ? (opts['test.prefix-line'] ?? '') + a.line : a.line;
        const v = f.processLine(line, journal);
        const match = v.verdict === 'matched' && v.host !== null;
        const want = a.expect;
        res.checked++;
        const ok =
          match === Boolean(want.match) && (!match || want.host === undefined || want.host === v.host);
        if (ok) res.passed++;
        else {
          res.failures.push({
            file: a.file,
            lineNo: a.lineNo,
            line: a.line,
            want: { match: Boolean(want.match), host: want.host },
            got: { match, host: v.host },
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
