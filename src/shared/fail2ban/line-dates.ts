import { classRun, hasRun } from './class-runs.js';
import { type DateTemplate, topLevelBar } from './dates.js';
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
  let pre = RUN;
  let at = -1;
  if (s.startsWith(NONWORD_HEAD)) {
    pre = AFTER_NONWORD;
    at = NONWORD_HEAD.length - 1;
  } else if (s.startsWith(BRACKET_IN)) {
    pre = AFTER_BRACKET;
    at = BRACKET_IN.length - 1;
  } else if (s.startsWith(BRACKET_OUT)) {
    pre = AFTER_BRACKET;
    // inside the group, after its `[`: only where the group has no other branch
    if (!barIn(s, 7)) at = 10;
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

/** The group opened at `open` has a `|` of its own (or is not closed). */
function barIn(s: string, open: number): boolean {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < s.length && s[i] !== ']'; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return false;
    else if (c === '|' && depth === 1) return true;
  }
  return true;
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
  /** Per slot without a positional pre-check: a class run every match holds (class-runs.ts). */
  private readonly runs: (Uint8Array[] | null)[] = [];
  /** Per slot: the line (`stamp`) its result is for, and that result. */
  private seen = new Uint32Array(0);
  private readonly got: (RegExpExecArray | null)[] = [];
  private stamp = 0;
  private line = '';
  private bracket = UNSEEN;

  /** The slots of a template list (kept for `find`). */
  slots(templates: readonly DateTemplate[]): Int32Array {
    const out = new Int32Array(templates.length);
    templates.forEach((t, i) => {
      const key = `${t.re.flags}/${t.re.source}`;
      let s = this.slotOf.get(key);
      if (s === undefined) {
        s = this.res.length;
        this.slotOf.set(key, s);
        this.res.push(t.re);
        const c = preCheck(t.re);
        this.pre.push(c.pre);
        this.first.push(c.first);
        this.runs.push(c.pre === RUN ? classRun(t.re) : null);
        this.got.push(null);
      }
      out[i] = s;
    });
    this.seen = new Uint32Array(this.res.length);
    this.stamp = 0;
    return out;
  }

  /** Starts a line: results of the previous one are forgotten. */
  reset(line: string): void {
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 1;
    }
    this.line = line;
    this.bracket = UNSEEN;
  }

  private exec(slot: number): RegExpExecArray | null {
    if (this.seen[slot] === this.stamp) return this.got[slot];
    this.seen[slot] = this.stamp;
    const m = this.may(slot) ? this.res[slot].exec(this.line) : null;
    this.got[slot] = m;
    return m;
  }

  /** The slot's regex may match the line (its pre-check passes). */
  private may(slot: number): boolean {
    const pre = this.pre[slot];
    if (pre === RUN) {
      const run = this.runs[slot];
      return run === null || hasRun(run, this.line);
    }
    if (pre === DEAD) return false;
    const line = this.line;
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
   * `start`, `end`. `last` holds each list's last template, at `k`: updated as findDate does.
   */
  find(templates: readonly DateTemplate[], slots: Int32Array, last: Int32Array, k: number): boolean {
    let best: RegExpExecArray | null = null;
    let bi = last[k];
    if (bi >= 0 && bi < templates.length) {
      const m = this.exec(slots[bi]);
      if (m !== null && m[1] !== undefined && (templates[bi].anchored || m.index <= 1)) best = m;
    }
    if (best === null) {
      for (let i = 0; i < templates.length; i++) {
        const m = this.exec(slots[i]);
        if (m === null || m[1] === undefined) continue;
        if (templates[i].anchored || m.index <= 1) {
          best = m;
          bi = i;
          break;
        }
        if (best === null || m.index < best.index) {
          best = m;
          bi = i;
        }
      }
    }
    if (best === null) return false;
    last[k] = bi;
    this.start = best.index + best[0].indexOf(best[1]);
    this.end = this.start + best[1].length;
    return true;
  }
}
