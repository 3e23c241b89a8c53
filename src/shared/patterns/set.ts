import { FAMILY_INVALID, parseIpInto } from '../ip/parse.js';
import { type CompiledPattern, compilePattern, normalizeSpec, type PatternSpec } from './compile.js';

/**
 * The active patterns of one version, compiled, in order. Ids are positions among the *enabled*
 * patterns, so the main thread (names, metrics) and the workers (matching) agree on them.
 */
export class PatternSet {
  readonly version: number;
  readonly patterns: readonly CompiledPattern[];
  /** Any pattern matches the raw line (the worker then keeps the raw text too). */
  readonly needsRaw: boolean;
  readonly needsBody: boolean;

  constructor(version: number, specs: readonly PatternSpec[]) {
    this.version = version;
    const enabled = specs.map((s) => normalizeSpec(s)).filter((s) => s.enabled);
    this.patterns = enabled.map((s, i) => compilePattern(s, i));
    this.needsRaw = this.patterns.some((p) => p.raw);
    this.needsBody = this.patterns.some((p) => !p.raw);
  }
}

/**
 * First-match-wins matcher: one line counts as at most one failure, for the first pattern (in
 * order) that matches *and* captures a valid address. The address is canonicalised into `addr`
 * (4 bytes for IPv4, v4-mapped folded; 16 for IPv6).
 */
export class LineMatcher {
  readonly addr = new Uint8Array(16);
  family: 4 | 6 = 4;
  /** Patterns to skip (quarantined), by id. */
  readonly skip: Uint8Array;
  /** Cumulative ns per pattern while profiling (null when not profiling). */
  profile: Float64Array | null = null;

  constructor(readonly set: PatternSet) {
    this.skip = new Uint8Array(set.patterns.length);
  }

  /** Returns the matching pattern id or -1. `body` is `tag: message`; `raw` the line as received. */
  match(body: string, raw: string): number {
    const pats = this.set.patterns;
    const prof = this.profile;
    for (let i = 0; i < pats.length; i++) {
      if (this.skip[i] === 1) continue;
      const p = pats[i];
      const text = p.raw ? raw : body;
      if (p.literal !== null && text.indexOf(p.literal) < 0) continue;
      let m: RegExpExecArray | null;
      if (prof !== null) {
        const t0 = performance.now();
        m = p.re.exec(text);
        prof[i] += (performance.now() - t0) * 1e6;
      } else {
        m = p.re.exec(text);
      }
      if (m === null) continue;
      const cap = p.ipName !== null ? m.groups?.[p.ipName] : m[p.ipIndex];
      if (cap === undefined) continue;
      let a = 0;
      let b = cap.length;
      while (a < b && cap.charCodeAt(a) <= 32) a++;
      while (b > a && cap.charCodeAt(b - 1) <= 32) b--;
      const fam = parseIpInto(cap, this.addr, a, b);
      if (fam === FAMILY_INVALID) continue;
      this.family = fam;
      return i;
    }
    return -1;
  }
}
