/**
 * The characters a regex's match can have at a given point of its source, for the date
 * templates' pre-checks (line-dates.ts). Soundness is the contract: a table never misses a
 * character a match can have there; what is not understood answers null (no pre-check).
 * Tables have 129 entries: ASCII codes, and 128 for any character above ASCII.
 */

export const ANY = 128;

/** Fills `out` for a backslash class letter (`d`, `w`, `s`…); false when not one. */
export function escapeClass(e: string, out: Uint8Array): boolean {
  if (e === 'd') for (let c = 48; c <= 57; c++) out[c] = 1;
  else if (e === 'w') {
    for (let c = 48; c <= 57; c++) out[c] = 1;
    for (let c = 65; c <= 90; c++) out[c] = out[c + 32] = 1;
    out[95] = 1;
  } else if (e === 's') {
    for (const c of [9, 10, 11, 12, 13, 32]) out[c] = 1;
    out[ANY] = 1;
  } else if (e === 'D' || e === 'W' || e === 'S') out.fill(1);
  else return false;
  return true;
}

/** Parser over one source; `i` is the position. */
export class First {
  i: number;
  constructor(
    readonly src: string,
    start: number,
    readonly icase: boolean,
  ) {
    this.i = start;
  }

  add(out: Uint8Array, c: number): void {
    if (c >= ANY) {
      out[ANY] = 1;
      return;
    }
    out[c] = 1;
    // the `i` flag outside unicode mode folds ASCII letters only onto ASCII letters
    if (this.icase && ((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) out[c ^ 32] = 1;
  }

  /**
   * The sequence at `i`, up to `|`, `)` or the end: adds the first characters of its first
   * atom that cannot be empty, and those of the optional ones before it. Returns whether the
   * whole sequence can be empty (then `i` is at its end), null when not understood.
   */
  sequence(out: Uint8Array): boolean | null {
    const s = this.src;
    while (this.i < s.length && s[this.i] !== '|' && s[this.i] !== ')') {
      const atom = new Uint8Array(ANY + 1);
      const empty = this.atom(atom);
      if (empty === null) return null;
      const q = this.quantifier();
      if (q === null) return null;
      for (let c = 0; c <= ANY; c++) if (atom[c] === 1) out[c] = 1;
      if (!empty && !q) return false;
    }
    return true;
  }

  /** Alternatives up to the `)` closing a group (consumed): whether one can be empty. */
  private alternatives(out: Uint8Array): boolean | null {
    let empty = false;
    for (;;) {
      const e = this.sequence(out);
      if (e === null) return null;
      if (e) empty = true;
      else this.skipToBranchEnd();
      const c = this.src[this.i];
      this.i++;
      if (c === ')') return empty;
      if (c !== '|') return null;
    }
  }

  /** From inside a branch to its `|` or closing `)` (not consumed). */
  private skipToBranchEnd(): void {
    const s = this.src;
    let depth = 0;
    for (; this.i < s.length; this.i++) {
      const c = s[this.i];
      if (c === '\\') this.i++;
      else if (c === '[') this.skipClass();
      else if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) return;
        depth--;
      } else if (c === '|' && depth === 0) return;
    }
  }

  /** From `[` to its `]` (left on it). */
  private skipClass(): void {
    const s = this.src;
    for (this.i++; this.i < s.length && s[this.i] !== ']'; this.i++) if (s[this.i] === '\\') this.i++;
  }

  /** One atom: adds its first characters; whether it can match empty; null: not understood. */
  private atom(out: Uint8Array): boolean | null {
    const s = this.src;
    const c = s[this.i];
    if (c === '(') {
      this.i++;
      if (s[this.i] === '?') {
        const n = s[this.i + 1];
        if (n === ':') this.i += 2;
        else if (n === '=' || n === '!' || (n === '<' && (s[this.i + 2] === '=' || s[this.i + 2] === '!'))) {
          // a lookaround matches nothing: skip it (what it asserts only narrows the truth)
          this.i += n === '<' ? 3 : 2;
          const junk = new Uint8Array(ANY + 1);
          return this.alternatives(junk) === null ? null : true;
        } else if (n === '<') {
          const close = s.indexOf('>', this.i);
          if (close < 0) return null;
          this.i = close + 1;
        } else return null;
      }
      return this.alternatives(out);
    }
    if (c === '[') return this.klass(out) ? false : null;
    if (c === '\\') {
      const e = s[this.i + 1];
      if (e === undefined) return null;
      this.i += 2;
      if (e === 'b' || e === 'B') return true;
      if (escapeClass(e, out)) return false;
      if (/[0-9A-Za-z]/.test(e)) return null; // backreferences, \x, \u, \p…
      this.add(out, e.charCodeAt(0));
      return false;
    }
    if (c === '^' || c === '$') {
      this.i++;
      return true;
    }
    if (c === '.') {
      this.i++;
      out.fill(1);
      return false;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') return null;
    this.add(out, s.charCodeAt(this.i));
    this.i++;
    return false;
  }

  /** A `[…]` class; false when not understood. */
  klass(out: Uint8Array): boolean {
    const s = this.src;
    this.i++;
    // negated: nearly anything; empty (`[]`, JavaScript's): not worth reading
    if (s[this.i] === '^') {
      for (; this.i < s.length && s[this.i] !== ']'; this.i++) if (s[this.i] === '\\') this.i++;
      this.i++;
      out.fill(1);
      return true;
    }
    if (s[this.i] === ']') return false;
    while (this.i < s.length && s[this.i] !== ']') {
      const lo = this.classChar(out);
      if (lo === -2) return false;
      if (lo === -1) continue; // a class escape, already added
      if (s[this.i] === '-' && s[this.i + 1] !== ']' && this.i + 1 < s.length) {
        this.i++;
        const hi = this.classChar(out);
        if (hi < 0) return false;
        for (let x = lo; x <= hi && x < ANY; x++) this.add(out, x);
        if (hi >= ANY) out[ANY] = 1;
      } else this.add(out, lo);
    }
    if (s[this.i] !== ']') return false;
    this.i++;
    return true;
  }

  /** One class member: its code, -1 for a class escape (added to `out`), -2 not understood. */
  private classChar(out: Uint8Array): number {
    const s = this.src;
    if (s[this.i] !== '\\') return s.charCodeAt(this.i++);
    const e = s[this.i + 1];
    this.i += 2;
    if (e === undefined) return -2;
    if (escapeClass(e, out)) return -1;
    return /[0-9A-Za-z]/.test(e) ? -2 : e.charCodeAt(0);
  }

  /** A quantifier after an atom: true when it allows zero, false for none or at least one. */
  private quantifier(): boolean | null {
    const s = this.src;
    const c = s[this.i];
    let zero = false;
    if (c === '?' || c === '*') {
      zero = true;
      this.i++;
    } else if (c === '+') this.i++;
    else if (c === '{') {
      const m = /^\{(\d+)(?:,\d*)?\}/.exec(s.slice(this.i, this.i + 24));
      if (m === null) return null;
      zero = Number(m[1]) === 0;
      this.i += m[0].length;
    } else return false;
    if (s[this.i] === '?') this.i++;
    return zero;
  }
}

/**
 * The characters a match of `re` can have where its source position `at` starts matching: the
 * sequence from `at` on must not be able to match empty, and must not be a branch of a group
 * that has other branches (the caller picks `at` at the start of the pattern or right inside
 * a group without `|`). Null when unknown, for unicode-mode regexes too.
 */
export function firstCharsAt(re: RegExp, at: number): Uint8Array | null {
  if (re.unicode || re.flags.includes('v')) return null;
  const out = new Uint8Array(ANY + 1);
  const p = new First(re.source, at, re.ignoreCase);
  const empty = p.sequence(out);
  return empty === false ? out : null;
}

/** `s[at]` is in `table` (past the end: never). */
export function firstAt(table: Uint8Array, s: string, at: number): boolean {
  if (at >= s.length) return false;
  const c = s.charCodeAt(at);
  return table[Math.min(c, ANY)] === 1;
}

/** `s[at]` is a word character (`\w`: ASCII letter, digit, `_`). */
export function wordAt(s: string, at: number): boolean {
  const c = s.charCodeAt(at);
  const l = c | 32;
  return (l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 95;
}
