import { ANY, escapeClass, First } from './first-chars.js';

/**
 * A run of character classes every match of a regex holds, one class per consecutive
 * character (`\/(?<Y>\d{4}):` → `/`, digit ×4, `:`), for the unanchored date templates'
 * pre-check: a line without such a run cannot hold the date, and the run costs one pass over
 * the line where the regex tries every position. Soundness is the contract: anything not
 * understood ends a run, never extends one.
 */

/** A class sequence: one 129-entry table per character (first-chars.ts). */
type Run = Uint8Array[];

/** Runs shorter than this many bits of selectivity are not worth a pass over the line. */
const MIN_BITS = 12;

function bits(run: Run): number {
  let b = 0;
  for (const t of run) {
    let n = 0;
    for (let c = 0; c <= ANY; c++) n += t[c];
    b += Math.log2((ANY + 1) / Math.max(n, 1));
  }
  return b;
}

class Runs {
  /** Every mandatory run found; `cur` is the one being built. */
  readonly all: Run[] = [];
  private cur: Run = [];
  /** Something was not understood: no run is trusted. */
  failed = false;
  private readonly p: First;

  constructor(
    readonly src: string,
    icase: boolean,
  ) {
    this.p = new First(src, 0, icase);
  }

  atEnd(): boolean {
    return this.p.i >= this.src.length;
  }

  private cut(): void {
    if (this.cur.length > 0) this.all.push(this.cur);
    this.cur = [];
  }

  /**
   * The sequence at the position up to `|`, `)` or the end. Adds its mandatory runs to `all`
   * (`top`) and returns its classes when it is a fixed-length class sequence, else null.
   */
  sequence(): Run | null {
    const s = this.src;
    const saved = this.cur;
    this.cur = [];
    let fixed: Run | null = [];
    while (!this.failed && this.p.i < s.length && s[this.p.i] !== '|' && s[this.p.i] !== ')') {
      const keep = this.all.length;
      const a = this.atom();
      const q = a === undefined ? null : this.quantifier();
      if (a === undefined || q === null) {
        this.failed = true;
        break;
      }
      // an atom that may be absent holds nothing mandatory
      if (q.min === 0) this.all.length = keep;
      if (a === null || q.min === 0) {
        fixed = null;
        this.cut();
        continue;
      }
      // `a{n,m}`: n copies are certain, what follows may not be adjacent to them
      for (let k = 0; k < q.min; k++) this.cur.push(...a);
      if (fixed !== null && q.min === q.max) for (let k = 0; k < q.min; k++) fixed.push(...a);
      else fixed = null;
      if (q.min !== q.max) this.cut();
    }
    this.cut();
    this.cur = saved;
    return fixed;
  }

  /**
   * One atom: its classes when it matches exactly that fixed class sequence (`[]` for a
   * zero-width assertion), null when it is of variable length (its inner runs are kept),
   * undefined when not understood.
   */
  private atom(): Run | null | undefined {
    const s = this.src;
    const p = this.p;
    const c = s[p.i];
    if (c === '(') {
      p.i++;
      let look = false;
      if (s[p.i] === '?') {
        const n = s[p.i + 1];
        if (n === ':') p.i += 2;
        else if (n === '=' || n === '!') {
          p.i += 2;
          look = true;
        } else if (n === '<' && (s[p.i + 2] === '=' || s[p.i + 2] === '!')) {
          p.i += 3;
          look = true;
        } else if (n === '<') {
          const close = s.indexOf('>', p.i);
          if (close < 0) return undefined;
          p.i = close + 1;
        } else return undefined;
      }
      if (look) {
        // what a lookaround holds is not consumed: its runs are not the match's
        const keep = this.all.length;
        const b = this.branches();
        this.all.length = keep;
        return b === undefined ? undefined : [];
      }
      return this.branches();
    }
    const t = new Uint8Array(ANY + 1);
    if (c === '[') return p.klass(t) ? [t] : undefined;
    if (c === '\\') {
      const e = s[p.i + 1];
      if (e === undefined) return undefined;
      p.i += 2;
      if (e === 'b' || e === 'B') return [];
      if (escapeClass(e, t)) return [t];
      if (e === 'k' && s[p.i] === '<') {
        // a named backreference: any length
        const close = s.indexOf('>', p.i);
        if (close < 0) return undefined;
        p.i = close + 1;
        return null;
      }
      if (/[0-9A-Za-z]/.test(e)) return undefined; // \x41, \1, \p{…}…: not read here
      p.add(t, e.charCodeAt(0));
      return [t];
    }
    if (c === '^' || c === '$') {
      p.i++;
      return [];
    }
    if (c === '.') {
      p.i++;
      t.fill(1);
      return [t];
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') return undefined;
    p.add(t, s.charCodeAt(p.i));
    p.i++;
    return [t];
  }

  /**
   * Branches up to the `)` closing a group (consumed). One branch: its runs are the group's.
   * Several of one fixed length: the union of their classes, position by position. Else null.
   */
  private branches(): Run | null | undefined {
    const s = this.src;
    const keep = this.all.length;
    const alts: (Run | null)[] = [];
    for (;;) {
      alts.push(this.sequence());
      const c = s[this.p.i];
      this.p.i++;
      if (c === ')') break;
      if (c !== '|') return undefined; // unbalanced
    }
    // a run inside one branch of several is not mandatory
    if (alts.length > 1) this.all.length = keep;
    const first = alts[0];
    if (first === null || alts.some((a) => a === null || a.length !== first.length)) return null;
    return first.map((_, k) => {
      const u = new Uint8Array(ANY + 1);
      for (const a of alts) for (let c = 0; c <= ANY; c++) if ((a as Run)[k][c] === 1) u[c] = 1;
      return u;
    });
  }

  /** The quantifier after an atom: its bounds (max Infinity); null when not understood. */
  private quantifier(): { min: number; max: number } | null {
    const s = this.src;
    const c = s[this.p.i];
    let q = { min: 1, max: 1 };
    if (c === '?') q = { min: 0, max: 1 };
    else if (c === '*') q = { min: 0, max: Number.POSITIVE_INFINITY };
    else if (c === '+') q = { min: 1, max: Number.POSITIVE_INFINITY };
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.p.i, this.p.i + 24));
      if (m === null) return null;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      this.p.i += m[0].length - 1;
      q = { min, max };
    } else return q;
    this.p.i++;
    if (s[this.p.i] === '?') this.p.i++;
    return q;
  }
}

/** A class run, with what finds its candidates fast. */
export interface ClassRun {
  readonly classes: Run;
  /** The classes as text, to tell equal runs apart. */
  readonly key: string;
  /**
   * Its longest stretch of one-character classes (`20`, `/`), at `off` in the run: indexOf
   * finds the places worth checking. Empty: every position is checked.
   */
  readonly lit: string;
  readonly off: number;
}

function single(t: Uint8Array): number {
  let c = -1;
  for (let x = 0; x <= ANY; x++)
    if (t[x] === 1) {
      if (c >= 0 || x === ANY) return -1;
      c = x;
    }
  return c;
}

/**
 * What indexOf looks for: the longest stretch of one-character classes, a lone one preferably
 * not a space (a space is still fewer places to check than every position).
 */
function literalOf(run: Run): { lit: string; off: number } {
  let best = { lit: '', off: 0 };
  let cur = '';
  for (let k = 0; k <= run.length; k++) {
    const c = k < run.length ? single(run[k]) : -1;
    if (c >= 0) cur += String.fromCharCode(c);
    else {
      if (cur.length > best.lit.length || (cur.length === 1 && best.lit === ' ' && cur !== ' '))
        best = { lit: cur, off: k - cur.length };
      cur = '';
    }
  }
  return best;
}

/**
 * The most selective class run every match of `re` holds, or null when none is worth a pass
 * (or the regex is not understood, or in unicode mode).
 */
export function classRun(re: RegExp): ClassRun | null {
  if (re.unicode || re.flags.includes('v')) return null;
  const r = new Runs(re.source, re.ignoreCase);
  r.sequence();
  // stopped before the end: a top-level `|` (or a stray `)`), so no run is mandatory
  if (r.failed || !r.atEnd() || r.all.length === 0) return null;
  let best: Run | null = null;
  let most = MIN_BITS;
  for (const run of r.all) {
    const b = bits(run);
    if (b >= most) {
      best = run;
      most = b;
    }
  }
  if (best === null) return null;
  return { classes: best, key: best.map((t) => t.join('')).join('/'), ...literalOf(best) };
}

/** `s` holds `run` at `p`. */
function runAt(run: Run, s: string, p: number): boolean {
  if (p < 0 || p + run.length > s.length) return false;
  for (let k = 0; k < run.length; k++) if (run[k][Math.min(s.charCodeAt(p + k), ANY)] !== 1) return false;
  return true;
}

/** `s` holds `run` somewhere. */
export function hasRun(run: ClassRun, s: string): boolean {
  const c = run.classes;
  if (run.lit !== '') {
    for (let q = s.indexOf(run.lit); q >= 0; q = s.indexOf(run.lit, q + 1))
      if (runAt(c, s, q - run.off)) return true;
    return false;
  }
  const n = c.length;
  const t0 = c[0];
  for (let p = 0; p + n <= s.length; p++)
    if (t0[Math.min(s.charCodeAt(p), ANY)] === 1 && runAt(c, s, p)) return true;
  return false;
}
