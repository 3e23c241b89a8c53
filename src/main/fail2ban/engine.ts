import { type DateState, type DateTemplate, findDate, templatesFor } from '../../shared/fail2ban/dates.js';
import type { FilterDef } from './filter.js';
import { type CompiledRegex, compileRegex, execRegex, type RegexProblem } from './regex.js';
import { type Fail, SessionCache } from './sessions.js';

/** What fail2ban decides for one line. */
export interface LineVerdict {
  verdict: 'matched' | 'ignored' | 'missed';
  /** failregex index (matched, or matched then ignored), ignoreregex index for `ignored`. */
  regex: number;
  /** The failure id fail2ban reports (F-ID when given, else the address or host name). */
  host: string | null;
  /** The address (ip4/ip6) when there is one. */
  ip: string | null;
  /** The line's own time (unix ms), or null when it has none. */
  timeMs: number | null;
  /**
   * Matched a regex but only as context (`<F-NOFAIL>`): not a failure, so `missed`, as in
   * fail2ban's server and `fail2ban-regex --no-check-all`.
   */
  nofail: boolean;
  /** Matched, but the address comes from a later line of the session: `missed` for now. */
  pending: boolean;
  /** Text of the date found, or null. */
  date: string | null;
  /** Name of the date template that found it. */
  dateTemplate: string | null;
  groups: Record<string, unknown>;
}

/**
 * A fail2ban filter with fail2ban's line semantics (its findFailure): the date is
 * cut out, prefregex must match and hands its `content` to the failregexes, the first
 * failregex that matches decides unless an ignoreregex matches too, `<F-MLFID>` joins the
 * groups of lines that belong to one session (`<F-NOFAIL>`, `<F-MLFFORGET>`, `<F-MLFGAINED>`),
 * `maxlines` > 1 matches over a buffer of lines.
 */
export class Fail2banFilter {
  readonly pref: CompiledRegex | null;
  readonly fail: CompiledRegex[] = [];
  readonly ignore: CompiledRegex[] = [];
  readonly problems: RegexProblem[] = [];
  readonly templates: DateTemplate[];
  private buffer: [string, string, string][] = [];
  /** Bounded like fail2ban's mlfid cache: the oldest entries go first. */
  private readonly sessions = new SessionCache(1000);
  private lastDateMs: number | null = null;
  private readonly quarantined = new Set<CompiledRegex>();
  /** Longest one run of a backtracking regex may take before it is quarantined. */
  budgetMs = 50;
  private readonly dateState: DateState = { last: -1, at: -1, end: -1, text: '', template: -1, timeMs: 0 };

  /** `nowMs`: the reference for dates without a year or a day (default: the clock). */
  constructor(
    readonly def: FilterDef,
    private readonly nowMs: () => number = Date.now,
  ) {
    const multi = def.maxlines > 1;
    let pref: CompiledRegex | null = null;
    if (def.prefregex !== null) {
      try {
        pref = compileRegex(def.prefregex, 0, false);
      } catch (err) {
        this.problems.push({
          list: 'prefregex',
          index: 0,
          regex: def.prefregex,
          reason: (err as Error).message,
        });
      }
    }
    this.pref = pref;
    def.failregex.forEach((r, i) => {
      try {
        this.fail.push(compileRegex(r, i, multi));
      } catch (err) {
        this.problems.push({ list: 'failregex', index: i, regex: r, reason: (err as Error).message });
      }
    });
    def.ignoreregex.forEach((r, i) => {
      try {
        this.ignore.push(compileRegex(r, i, false));
      } catch (err) {
        this.problems.push({ list: 'ignoreregex', index: i, regex: r, reason: (err as Error).message });
      }
    });
    this.templates = templatesFor(def.datepattern);
  }

  /**
   * Runs a regex; one that needs the backtracking engine is timed, and after a single run over
   * `budgetMs` it is quarantined for the rest of this filter's life (reported in `problems`,
   * as the matcher pool does with its time budget): a hostile line costs one slow match, not
   * one per line.
   */
  private exec(r: CompiledRegex, text: string, list: RegexProblem['list']): RegExpExecArray | null {
    if (r.backtracking.length === 0) return execRegex(r, text);
    if (this.quarantined.has(r)) return null;
    const t0 = performance.now();
    const m = execRegex(r, text);
    const ms = performance.now() - t0;
    if (ms > this.budgetMs) {
      this.quarantined.add(r);
      this.problems.push({
        list,
        index: r.index,
        regex: r.original,
        reason: `quarantined: one match took ${Math.round(ms)} ms (budget ${this.budgetMs} ms)`,
      });
    }
    return m;
  }

  private ignored(buf: string): number {
    for (const r of this.ignore) if (this.exec(r, buf, 'ignoreregex') !== null) return r.index;
    return -1;
  }

  /**
   * One line. `journal`: the line comes from the journal, which gives the time, so no date is
   * looked for (fail2ban's systemd backend).
   */
  processLine(lineIn: string, journal = false): LineVerdict {
    let cut = lineIn.length;
    while (cut > 0 && (lineIn.charCodeAt(cut - 1) === 10 || lineIn.charCodeAt(cut - 1) === 13)) cut--;
    const line = cut === lineIn.length ? lineIn : lineIn.slice(0, cut);
    const d = journal ? null : findDate(this.templates, line, this.nowMs(), this.dateState);
    let head = '';
    let date = '';
    let tail = line;
    let timeMs: number | null = this.lastDateMs;
    if (d !== null) {
      head = line.slice(0, d.start);
      tail = line.slice(d.end);
      if (d.start === d.end && this.lastDateMs !== null) {
        // an empty date match (`^WARNING:()**`): the line belongs to the last dated one
      } else {
        date = line.slice(d.start, d.end);
        if (!Number.isNaN(d.timeMs)) {
          timeMs = d.timeMs;
          this.lastDateMs = timeMs;
        }
      }
    }
    const v: LineVerdict = {
      verdict: 'missed',
      regex: -1,
      host: null,
      ip: null,
      timeMs,
      nofail: false,
      pending: false,
      date: d === null ? null : date,
      dateTemplate: d === null ? null : d.template,
      groups: {},
    };
    const max = this.def.maxlines;
    let buf: string;
    if (max > 1) {
      this.buffer.push([head, date, tail]);
      if (this.buffer.length > max) this.buffer = this.buffer.slice(-max);
      buf = joinLines(this.buffer);
    } else buf = d === null ? line : head + tail;
    if (this.ignore.length > 0 && this.ignore.length < this.fail.length - 2) {
      const ig = this.ignored(buf);
      if (ig >= 0) {
        v.verdict = 'ignored';
        v.regex = ig;
        return v;
      }
    }
    let pre: Fail | null = null;
    if (this.def.prefregex !== null) {
      if (this.pref === null) return v;
      const m = this.exec(this.pref, buf, 'prefregex');
      if (m === null) return v;
      pre = (m.groups ?? {}) as Fail;
      const content = pre.content as string | undefined;
      if (content) {
        if (max > 1) {
          this.buffer = [['', '', content]];
          buf = joinLines(this.buffer);
        } else buf = content;
      }
    }
    for (const r of this.fail) {
      const m = this.exec(r, buf, 'failregex');
      if (m === null) continue;
      let fail: Fail = withAlt((m.groups ?? {}) as Fail, r.alt);
      if (this.ignore.length > 0) {
        const ig = this.ignored(max > 1 ? matchedText(buf, m) : buf);
        if (ig >= 0) {
          v.verdict = 'ignored';
          v.regex = ig;
          return v;
        }
      }
      if (max > 1) this.buffer = this.unmatched(buf, m);
      if (pre !== null) fail = withPre(pre, fail);
      const mlfid = fail.mlfid as string | undefined;
      if (mlfid !== undefined) {
        fail = this.sessions.merge(mlfid, fail);
        if (fail.nofail) {
          v.regex = r.index;
          v.nofail = true;
          v.groups = fail;
          return v;
        }
      }
      const fid = fail.fid as string | undefined;
      const ip = (fail.ip4 ?? fail.ip6) as string | undefined;
      const host = ip ?? (fail.dns as string | undefined) ?? fid;
      if (host === undefined) {
        // waits for the address from a later line of the same session
        fail.mlfpending = 1;
        v.regex = r.index;
        v.pending = true;
        v.groups = fail;
        return v;
      }
      v.verdict = 'matched';
      v.regex = r.index;
      v.host = fid !== undefined ? fid : host;
      v.ip = ip ?? null;
      v.groups = fail;
      return v;
    }
    return v;
  }

  /** The buffer without the lines the match used (the lines `<SKIPLINES>` skipped stay). */
  private unmatched(buf: string, m: RegExpExecArray): [string, string, string][] {
    const start = buf.lastIndexOf('\n', m.index) + 1;
    const endNl = buf.indexOf('\n', Math.max(m.index, m.index + m[0].length - 1));
    const end = endNl < 0 ? buf.length : endNl + 1;
    const l1 = count(buf, start);
    const l2 = count(buf, end);
    const skipped = new Set<string>();
    for (const [k, val] of Object.entries(m.groups ?? {})) {
      if (k.startsWith('skiplines') && typeof val === 'string')
        for (const s of val.split('\n')) skipped.add(s);
    }
    return this.buffer.filter((t, i) => i < l1 || i >= l2 || skipped.has(t[0] + t[2]));
  }
}

function joinLines(b: readonly [string, string, string][]): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += `${b[i][0]}${b[i][2]}\n`;
  return s;
}

/** The prefregex's groups (without its content) under the failregex's, as fail2ban merges them. */
function withPre(pre: Fail, fail: Fail): Fail {
  const out: Fail = {};
  for (const k in pre) if (k !== 'content') out[k] = pre[k];
  for (const k in fail) out[k] = fail[k];
  return out;
}

function count(s: string, upTo: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0 && i < upTo; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function matchedText(buf: string, m: RegExpExecArray): string {
  const start = buf.lastIndexOf('\n', m.index) + 1;
  const endNl = buf.indexOf('\n', m.index + Math.max(0, m[0].length - 1));
  return buf.slice(start, endNl < 0 ? buf.length : endNl + 1);
}

/** `alt_user` / `alt_user_2` groups fill `user` when it is empty (fail2ban's ALT_ names). */
function withAlt(fail: Fail, alt: readonly [string, string][]): Fail {
  for (let i = 0; i < alt.length; i++) {
    const [k, n] = alt[i];
    if (fail[k] && !fail[n]) fail[n] = fail[k];
  }
  return fail;
}
