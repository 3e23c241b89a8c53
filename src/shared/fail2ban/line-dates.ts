import type { DateTemplate } from './dates.js';

/** Not looked at yet on this line. */
const UNSEEN = -2;

/** `^[^\[]*\[(…` and `^[^\[]*(\[…`: the date right at or after the line's first `[`. */
const BRACKET = /^\^\[\^\\\[\]\*(?:\\\[\(|\(\\\[)/;
/** The same, then `^`: a `{DATE}` behind a prefix with an anchored default, which never matches. */
const BRACKET_DEAD = /^\^\[\^\\\[\]\*(?:\\\[\(|\(\\\[)\^/;

/**
 * The date spans of one line for many template lists at once (the live matcher's date cuts):
 * each distinct template regex runs at most once per line, however many lists hold it (most
 * imported filters share fail2ban's default templates), and not at all when the line lacks what
 * it needs (a `[` for the bracket forms). The choice among a list's matches is findDate's
 * (dates.ts), without the time: the list's last template first, then in order, an anchored
 * match or one at the line's start ending the search, else the earliest match.
 */
export class LineDates {
  /** Span of the date the last `find` found. */
  start = 0;
  end = 0;

  private readonly slotOf = new Map<string, number>();
  private readonly res: RegExp[] = [];
  /** Per slot: 1 when the regex needs a `[` in the line, 2 when it can never match. */
  private readonly need: number[] = [];
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
        const src = t.re.source;
        const dead = BRACKET_DEAD.test(src) && !t.re.multiline;
        this.need.push(dead ? 2 : BRACKET.test(src) ? 1 : 0);
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
    const need = this.need[slot];
    let m: RegExpExecArray | null = null;
    if (need === 1 && this.bracket === UNSEEN) this.bracket = this.line.indexOf('[');
    if (need === 0 || (need === 1 && this.bracket >= 0)) m = this.res[slot].exec(this.line);
    this.got[slot] = m;
    return m;
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
