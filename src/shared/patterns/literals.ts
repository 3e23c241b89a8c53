/**
 * Sound "one of these literals must occur" analysis of a JavaScript regex source, for the
 * matcher's prefilter. Soundness is the contract: a text the regex matches contains at least one
 * of the returned literals. Everything not understood weakens the result (a run is cut, a factor
 * gives nothing), never strengthens it; cutting a required run keeps it required.
 *
 * Literals are ASCII printable only and, for case-insensitive regexes, lower-cased with `k` and
 * `s` cut out (Unicode case folding maps U+212A and U+017F onto them). The scanner folds ASCII
 * case, so a case-sensitive literal is found whatever the case of the line (a superset: sound).
 */

/** Literals shorter than this are not worth a candidate filter. */
const MIN_LEN = 3;
/** A factor with more alternatives than this is not kept (it would pass most lines anyway). */
const MAX_ALTS = 16;

/** One factor: literals of which at least one occurs in every match. */
type Need = readonly string[];

/** Rank of a factor: longer shortest literal first, then fewer literals. */
function score(a: Need): number {
  return Math.min(...a.map((s) => s.length)) * 64 - a.length;
}

/** The `n` best distinct factors (all of them are required, so any subset is too). */
function pick(factors: readonly Need[], n: number): Need[] {
  const seen = new Set<string>();
  const out: Need[] = [];
  for (const f of [...factors].sort((a, b) => score(b) - score(a))) {
    const key = [...f].sort().join('\u0000');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
    if (out.length === n) break;
  }
  return out;
}

class Parser {
  i = 0;
  constructor(
    readonly src: string,
    readonly icase: boolean,
  ) {}

  /** Literal char for `c` or -1 when it cannot be kept in a literal. */
  private keep(c: number): number {
    if (c < 32 || c > 126) return -1;
    if (!this.icase) return c;
    const l = c >= 65 && c <= 90 ? c + 32 : c;
    return l === 107 || l === 115 ? -1 : l; // k, s
  }

  /** An alternation up to `)` or the end: all factors of a single branch, else one union. */
  alternation(): Need[] {
    const alts: Need[][] = [this.sequence()];
    while (this.src.charCodeAt(this.i) === 124 /* | */) {
      this.i++;
      alts.push(this.sequence());
    }
    if (alts.length === 1) return alts[0];
    const out: string[] = [];
    let known = true;
    for (const a of alts) {
      const b = pick(a, 1);
      if (b.length === 0) known = false;
      else out.push(...(b[0] as string[]));
    }
    return known && out.length <= MAX_ALTS ? [[...new Set(out)]] : [];
  }

  /** A sequence of atoms: every factor it needs (literal runs, groups' requirements). */
  private sequence(): Need[] {
    const s = this.src;
    const all: Need[] = [];
    let run = '';
    const cut = (): void => {
      if (run.length >= MIN_LEN) all.push([run]);
      run = '';
    };
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 124 || c === 41) break; // | )
      if (c === 40) {
        // group
        cut();
        const g = this.group();
        if (this.optionalNext()) continue;
        all.push(...g);
        this.skipQuantifier();
        continue;
      }
      let lit = -1;
      if (c === 91) {
        this.skipClass();
      } else if (c === 92) {
        // escape: punctuation is itself; letters and digits are classes, anchors, backreferences
        const e = s.charCodeAt(this.i + 1);
        this.i += 2;
        const punct = e >= 33 && e <= 126 && !/[0-9A-Za-z]/.test(String.fromCharCode(e));
        if (punct) lit = this.keep(e);
        else if (e === 120)
          this.i += 2; // \xHH
        else if (e === 117 && s.charCodeAt(this.i) !== 123)
          this.i += 4; // \uHHHH
        else if (e === 99)
          this.i += 1; // \cX
        else if (e >= 48 && e <= 57) {
          // backreference or octal: all its digits
          while (s.charCodeAt(this.i) >= 48 && s.charCodeAt(this.i) <= 57) this.i++;
        } else if (e === 107 && s.charCodeAt(this.i) === 60)
          this.skipPast(62); // \k<name>
        else if (e === 117 && s.charCodeAt(this.i) === 123)
          this.skipPast(125); // \u{…}
        else if (e === 112 || e === 80) {
          if (s.charCodeAt(this.i) === 123) this.skipPast(125); // \p{…}
        }
      } else if (c === 46 || c === 94 || c === 36) {
        this.i++; // . ^ $
      } else if (c === 42 || c === 43 || c === 63 || c === 123) {
        // a quantifier here (or a literal `{` in Annex B syntax): cut, keep nothing
        this.i++;
      } else {
        lit = this.keep(c);
        this.i++;
      }
      if (lit < 0) {
        cut();
        this.skipQuantifier();
        continue;
      }
      if (this.optionalNext()) {
        cut();
        continue;
      }
      run += String.fromCharCode(lit);
      if (this.skipQuantifier()) cut();
    }
    cut();
    return all;
  }

  /** At `(`: parses the group, returns its requirements (none for lookarounds). */
  private group(): Need[] {
    const s = this.src;
    this.i++;
    let look = false;
    if (s.charCodeAt(this.i) === 63) {
      const n = s.charCodeAt(this.i + 1);
      if (n === 58)
        this.i += 2; // (?:
      else if (n === 61 || n === 33) {
        this.i += 2;
        look = true;
      } else if (n === 60) {
        const m = s.charCodeAt(this.i + 2);
        if (m === 61 || m === 33) {
          this.i += 3;
          look = true;
        } else this.skipPast(62); // (?<name>
      } else {
        // modifiers or something unknown: parse the body, trust nothing
        this.i += 1;
        look = true;
      }
    }
    const g = this.alternation();
    if (s.charCodeAt(this.i) === 41) this.i++;
    return look ? [] : g;
  }

  /** The next token is a quantifier that allows zero repetitions (`?`, `*`, `{0…}`). */
  private optionalNext(): boolean {
    const s = this.src;
    const c = s.charCodeAt(this.i);
    if (c === 63 || c === 42) {
      this.i++;
      if (s.charCodeAt(this.i) === 63) this.i++;
      return true;
    }
    if (c === 123) {
      const m = /^\{(\d+)(,\d*)?\}/.exec(s.slice(this.i, this.i + 24));
      if (m !== null && Number(m[1]) === 0) {
        this.i += m[0].length;
        if (s.charCodeAt(this.i) === 63) this.i++;
        return true;
      }
    }
    return false;
  }

  /** Skips a quantifier of at least one repetition; true when one was there. */
  private skipQuantifier(): boolean {
    const s = this.src;
    const c = s.charCodeAt(this.i);
    let q = false;
    if (c === 43) {
      this.i++;
      q = true;
    } else if (c === 123) {
      const m = /^\{(\d+)(,\d*)?\}/.exec(s.slice(this.i, this.i + 24));
      if (m !== null) {
        this.i += m[0].length;
        q = true;
      }
    }
    if (q && s.charCodeAt(this.i) === 63) this.i++;
    return q;
  }

  private skipClass(): void {
    const s = this.src;
    // outside v mode classes do not nest, and a `]` right after `[` or `[^` closes them
    for (this.i++; this.i < s.length; this.i++) {
      const c = s.charCodeAt(this.i);
      if (c === 92) this.i++;
      else if (c === 93) {
        this.i++;
        return;
      }
    }
  }

  private skipPast(end: number): void {
    const j = this.src.indexOf(String.fromCharCode(end), this.i);
    this.i = j < 0 ? this.src.length : j + 1;
  }
}

/** At most this many factors per regex (each costs a check per candidate line). */
export const MAX_FACTORS = 3;

/**
 * Factors of `new RegExp(source, flags)`: every text it matches holds, for each factor, at least
 * one of that factor's literals. Empty when none are known. Lower-cased ASCII when `flags` has
 * `i` (see the module comment).
 */
export function requiredFactors(source: string, flags: string): string[][] {
  // v-mode classes nest and have set operators; too rare in patterns to be worth parsing
  if (flags.includes('v')) return [];
  const p = new Parser(source, flags.includes('i'));
  const factors = p.alternation();
  // an unbalanced `)` stopped the parse early: the rest was not seen, so nothing is known
  if (p.i < source.length) return [];
  return pick(factors, MAX_FACTORS).map((f) => [...f]);
}

/** The best single factor of `requiredFactors`, or null. */
export function requiredLiterals(source: string, flags: string): string[] | null {
  return requiredFactors(source, flags)[0] ?? null;
}
