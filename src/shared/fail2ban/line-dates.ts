import { type ClassRun, classRun, hasRun } from './class-runs.js';
import { type DateTemplate, EPOCH_SOURCES, groupScan, topLevelBar } from './dates.js';
import { firstAt, firstCharsAt, wordAt } from './first-chars.js';

/** Not looked at yet on this line. */
const UNSEEN = -2;

/** Pre-checks of a template regex on a line (`LineDates.pre`). */
const RUN = 0;
/** A match at the line's start (`^…`). */
const AT_START = 1;
/** A date after at most two non-word characters (`^(?:\W{0,2})?(…`). */
const AFTER_NONWORD = 2;
/** A date right after the line's first `[` (`^[^\[]*\[(…`, `^[^\[]*(\[…`). */
const AFTER_BRACKET = 3;
/** Never matches: a `{DATE}` behind a prefix with an anchored default (`\[(^…`). */
const DEAD = 4;
/** fail2ban's EPOCH: a digit at 0, after a leading `[`, or right after `audit(`. */
const EPOCH_AT = 5;

const NONWORD_HEAD = String.raw`^(?:\W{0,2})?(`;
const BRACKET_IN = String.raw`^[^\[]*\[(`;
const BRACKET_OUT = String.raw`^[^\[]*(\[`;

/**
 * What a template regex needs of a line, read off its source: where its date starts and the
 * characters it can start with there (first-chars.ts). RUN (no pre-check) when not recognised.
 */
function preCheck(re: RegExp): { pre: number; first: Uint8Array | null } {
  const s = re.source;
  if (re.multiline || topLevelBar(s)) return { pre: RUN, first: null };
  // the number can only start there (its group's branches), and starts with a digit
  if (EPOCH_SOURCES.some((e) => s.startsWith(e))) return { pre: EPOCH_AT, first: null };
  let pre = RUN;
  let at = -1;
  if (s.startsWith(NONWORD_HEAD)) {
    pre = AFTER_NONWORD;
    at = NONWORD_HEAD.length - 1;
  } else if (s.startsWith(BRACKET_IN)) {
    pre = AFTER_BRACKET;
    at = BRACKET_IN.length - 1;
  } else if (s.startsWith(BRACKET_OUT) && !barIn(s, 7)) {
    // the `[` is in the group: needed only where the group has no other branch
    pre = AFTER_BRACKET;
    at = 10;
  } else if (s.startsWith('^')) {
    // any `^…`: the match starts at 0
    pre = AT_START;
    at = 1;
  }
  // both bracket forms open group 1 at 7 or 9 and have the date's text from 10 on
  const open = s.startsWith(BRACKET_IN) ? 9 : 7;
  if (pre === AFTER_BRACKET && s.charCodeAt(10) === 94 /* ^ */ && !barIn(s, open))
    return { pre: DEAD, first: null };
  const first = at >= 0 ? firstCharsAt(re, at) : null;
  // without a table a start or a non-word lead is no pre-check; a bracket still needs a `[`
  return { pre: first === null && pre !== AFTER_BRACKET ? RUN : pre, first };
}

/** The template's regex needs a `[` in the line (a bracket form, see preCheck; or never matches). */
export function needsBracket(t: DateTemplate): boolean {
  const pre = preCheck(t.re).pre;
  return pre === AFTER_BRACKET || pre === DEAD;
}

/** The group opened at `open` has a `|` of its own (or is not closed). */
function barIn(s: string, open: number): boolean {
  const g = groupScan(s, open);
  return g.end < 0 || g.bar;
}

/**
 * `re` with its named groups made plain ones (`\k<name>` their number): the same matches and
 * groups by number, without a `groups` object built for every match (only the span is used).
 * `re` itself when its source is not read here.
 */
export function spanOnly(re: RegExp): RegExp {
  const s = re.source;
  const names = new Map<string, number>();
  let n = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (s[i + 1] === 'k' && s[i + 2] === '<') {
        const close = s.indexOf('>', i);
        const g = names.get(s.slice(i + 3, close));
        if (close < 0 || g === undefined) return re; // a forward reference: keep it as it is
        out += `(?:\\${g})`;
        i = close;
        continue;
      }
      out += s.slice(i, i + 2);
      i++;
    } else if (c === '[') {
      let j = i + 1;
      while (j < s.length && s[j] !== ']') j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j;
    } else if (c === '(') {
      if (s[i + 1] !== '?') n++;
      else if (s[i + 2] === '<' && s[i + 3] !== '=' && s[i + 3] !== '!') {
        const close = s.indexOf('>', i);
        if (close < 0) return re;
        names.set(s.slice(i + 3, close), ++n);
        out += '(';
        i = close;
        continue;
      }
      out += c;
    } else out += c;
  }
  return new RegExp(out, re.flags);
}

function digitAt(s: string, at: number): boolean {
  const c = s.charCodeAt(at);
  return c >= 48 && c <= 57;
}

/** A template list for `LineDates.find`. */
export interface DateList {
  readonly slots: Int32Array;
  /** 1 where the template is anchored: its match ends the search. */
  readonly anchored: Uint8Array;
}

/**
 * The date spans of one line for many template lists at once (the live matcher's date cuts):
 * each distinct template regex runs at most once per line, however many lists hold it (most
 * imported filters share fail2ban's default templates), and not at all when the line cannot
 * hold its date where it looks for one (preCheck) or lacks a run of characters every date of
 * it holds (class-runs.ts: the unanchored templates, which otherwise try every position). The choice among a list's matches is findDate's
 * (dates.ts), without the time: the list's last template first, then in order, an anchored
 * match or one at the line's start ending the search, else the earliest match.
 */
export class LineDates {
  /** Span of the date the last `find` found. */
  start = 0;
  end = 0;

  private readonly slotOf = new Map<string, number>();
  private readonly res: RegExp[] = [];
  /** Per slot: its pre-check (RUN, AT_START…) and the characters its date can start with. */
  private readonly pre: number[] = [];
  private readonly first: (Uint8Array | null)[] = [];
  /**
   * Per slot without a positional pre-check: the class run every match holds (class-runs.ts),
   * as an index into `runs` (-1: none); equal runs are one, checked once per line.
   */
  private readonly runOf: number[] = [];
  private readonly runs: ClassRun[] = [];
  private readonly runKey = new Map<string, number>();
  private runSeen = new Uint32Array(0);
  private runHas = new Uint8Array(0);
  /** Per slot: the line (`stamp`) its result is for, and that result (see `exec`). */
  private seen = new Uint32Array(0);
  private at = new Int32Array(0);
  private from = new Int32Array(0);
  private to = new Int32Array(0);
  /** Per slot: where its match ends (its whole match, as `at` is where it starts). */
  private endAt = new Int32Array(0);
  private stamp = 0;
  private line = '';
  private bracket = UNSEEN;

  /** A template list as `find` takes it: its slots, and which templates are anchored. */
  list(templates: readonly DateTemplate[]): DateList {
    const slots = new Int32Array(templates.length);
    templates.forEach((t, i) => {
      const key = `${t.re.flags}/${t.re.source}`;
      let s = this.slotOf.get(key);
      if (s === undefined) {
        s = this.res.length;
        this.slotOf.set(key, s);
        this.res.push(spanOnly(t.re));
        const c = preCheck(t.re);
        this.pre.push(c.pre);
        this.first.push(c.first);
        this.runOf.push(this.runIndex(c.pre === RUN ? classRun(t.re) : null));
      }
      slots[i] = s;
    });
    const n = this.res.length;
    this.seen = new Uint32Array(n);
    this.runSeen = new Uint32Array(this.runs.length);
    this.runHas = new Uint8Array(this.runs.length);
    this.at = new Int32Array(n);
    this.from = new Int32Array(n);
    this.to = new Int32Array(n);
    this.endAt = new Int32Array(n);
    this.stamp = 0;
    return { slots, anchored: Uint8Array.from(templates, (t) => (t.anchored ? 1 : 0)) };
  }

  private runIndex(run: ClassRun | null): number {
    if (run === null) return -1;
    let r = this.runKey.get(run.key);
    if (r === undefined) {
      r = this.runs.length;
      this.runKey.set(run.key, r);
      this.runs.push(run);
    }
    return r;
  }

  /** Starts a line: results of the previous one are forgotten. */
  reset(line: string): void {
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.runSeen.fill(0);
      this.stamp = 1;
    }
    this.line = line;
    this.bracket = UNSEEN;
  }

  /** Where the slot's match starts in the line (its date: `from`, `to`), -1 for none. */
  private exec(slot: number): number {
    if (this.seen[slot] === this.stamp) return this.at[slot];
    this.seen[slot] = this.stamp;
    const m = this.may(slot) ? this.res[slot].exec(this.line) : null;
    if (m === null || m[1] === undefined) {
      this.at[slot] = -1;
      return -1;
    }
    // the date is group 1, found in the match's text as findDate finds it
    const from = m.index + m[0].indexOf(m[1]);
    this.at[slot] = m.index;
    this.endAt[slot] = m.index + m[0].length;
    this.from[slot] = from;
    this.to[slot] = from + m[1].length;
    return m.index;
  }

  /** The slot's regex may match the line (its pre-check passes). */
  private may(slot: number): boolean {
    const pre = this.pre[slot];
    if (pre === RUN) {
      const r = this.runOf[slot];
      if (r < 0) return true;
      if (this.runSeen[r] !== this.stamp) {
        this.runSeen[r] = this.stamp;
        this.runHas[r] = hasRun(this.runs[r], this.line) ? 1 : 0;
      }
      return this.runHas[r] === 1;
    }
    if (pre === DEAD) return false;
    const line = this.line;
    if (pre === EPOCH_AT)
      return digitAt(line, 0) || (line.charCodeAt(0) === 91 && digitAt(line, 1)) || line.includes('audit(');
    const first = this.first[slot];
    if (pre === AT_START) return first === null || firstAt(first, line, 0);
    if (pre === AFTER_NONWORD) {
      if (first === null) return true;
      for (let p = 0; p < 3; p++) {
        if (firstAt(first, line, p)) return true;
        if (p >= line.length || wordAt(line, p)) return false;
      }
      return false;
    }
    if (this.bracket === UNSEEN) this.bracket = line.indexOf('[');
    return this.bracket >= 0 && (first === null || firstAt(first, line, this.bracket + 1));
  }

  /**
   * Finds the date of the line (`reset`) with `templates` (their `slots`): true with its span in
   * `start`, `end`. `last` holds, at 3k, 3k+1, 3k+2, each list's last template and where its
   * match started and ended: updated as findDate does.
   */
  find(list: DateList, last: Int32Array, k: number): boolean {
    const { slots, anchored } = list;
    const n = slots.length;
    let best = -1;
    let bi = last[k * 3];
    if (bi >= 0 && bi < n) {
      const s = slots[bi];
      const at = this.exec(s);
      if (
        at >= 0 &&
        (anchored[bi] === 1 || at <= 1 || (at === last[k * 3 + 1] && this.endAt[s] === last[k * 3 + 2]))
      )
        best = at;
    }
    if (best < 0) {
      for (let i = 0; i < n; i++) {
        const at = this.exec(slots[i]);
        if (at < 0) continue;
        if (anchored[i] === 1 || at <= 1) {
          best = at;
          bi = i;
          break;
        }
        if (best < 0 || at < best) {
          best = at;
          bi = i;
        }
      }
    }
    if (best < 0) return false;
    last[k * 3] = bi;
    last[k * 3 + 1] = best;
    last[k * 3 + 2] = this.endAt[slots[bi]];
    this.start = this.from[slots[bi]];
    this.end = this.to[slots[bi]];
    return true;
  }
}
