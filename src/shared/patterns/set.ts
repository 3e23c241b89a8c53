import { FAMILY_INVALID, parseIpInto } from '../ip/parse.js';
import { type CompiledPattern, compilePattern, normalizeSpec, type PatternSpec } from './compile.js';
import { Prefilter } from './prefilter.js';

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

/** `s` holds `t` at `at` (a loop: startsWith costs more on the strings the matcher sees). */
function sameAt(s: string, at: number, t: string): boolean {
  for (let k = 0; k < t.length; k++) if (s.charCodeAt(at + k) !== t.charCodeAt(k)) return false;
  return true;
}

function ignored(res: readonly RegExp[], text: string): boolean {
  for (let k = 0; k < res.length; k++) {
    const re = res[k];
    re.lastIndex = 0;
    if (re.test(text)) return true;
  }
  return false;
}

/**
 * Candidates from which the literal prefilter's scan pays: below, the tag cache has left so few
 * patterns that one scan of the line costs more than the regexes it would skip.
 */
const PREFILTER_FROM = 8;
/** Pattern sets smaller than this (the built-in presets) get no prefilter: the tag cache does. */
const PREFILTER_SET = 32;

/** Slots of the per-line tag cache (a power of two). */
const TAG_SLOTS = 256;

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

  /** The literal prefilter (null: no pattern has required literals); off: every candidate runs. */
  readonly prefilter: Prefilter | null;
  usePrefilter = true;

  private readonly all: Int32Array;
  /** Tag → ids of the patterns that can match a line with that tag (by their anchored prefix). */
  private readonly byTag = new Map<string, Int32Array>();

  /**
   * Per-line front of `byTag`: slots indexed by a hash of the tag's characters, compared in
   * place, so a line finds its candidates without slicing the tag or hashing a new string.
   */
  private readonly slotTag: (string | undefined)[] = new Array(TAG_SLOTS);
  private readonly slotIds: Int32Array[] = new Array(TAG_SLOTS);

  constructor(readonly set: PatternSet) {
    this.skip = new Uint8Array(set.patterns.length);
    this.all = Int32Array.from(set.patterns.keys());
    const pre = set.patterns.length >= PREFILTER_SET ? new Prefilter(set.patterns) : null;
    this.prefilter = pre !== null && pre.filtered > 0 ? pre : null;
  }

  /**
   * The patterns worth running on a line whose tag is `tag`: an anchored pattern (`^dovecot: …`)
   * cannot match a `postfix/smtpd: …` line. Decided once per distinct tag, so a line costs one
   * Map lookup instead of a failing regex call (~25 ns each) per pattern.
   */
  private candidates(tag: string): Int32Array {
    let c = this.byTag.get(tag);
    if (c !== undefined) return c;
    const head = `${tag}: `;
    const ids: number[] = [];
    for (const p of this.set.patterns) {
      if (p.raw) ids.push(p.id);
      else if (p.prefix !== null) {
        if (head.startsWith(p.prefix) || p.prefix.startsWith(head)) ids.push(p.id);
      } else if (p.firstChars === null || p.firstChars.has(head.charCodeAt(0))) ids.push(p.id);
    }
    c = Int32Array.from(ids);
    // tags come from allowed senders only, but keep the cache bounded anyway
    if (this.byTag.size < 4096) this.byTag.set(tag, c);
    return c;
  }

  /** The candidates for a line whose tag is `s[start, end)` (start < 0: the line has no tag). */
  candidatesAt(s: string, start: number, end: number): Int32Array {
    if (start < 0) return this.all;
    let hash = end - start;
    for (let k = start; k < end; k++) hash = (Math.imul(hash, 31) + s.charCodeAt(k)) | 0;
    const slot = hash & (TAG_SLOTS - 1);
    const tag = this.slotTag[slot];
    if (tag !== undefined && tag.length === end - start && sameAt(s, start, tag)) return this.slotIds[slot];
    // a copy, not a slice: a slice would keep the whole decoded chunk alive in the cache
    const fresh = Buffer.from(s.slice(start, end), 'utf8').toString('utf8');
    const ids = this.candidates(fresh);
    this.slotTag[slot] = fresh;
    this.slotIds[slot] = ids;
    return ids;
  }

  /**
   * Returns the matching pattern id or -1. `body` is `tag: message`; `raw` the line as received;
   * `ids` the candidates of the line's tag (candidatesAt), all patterns by default.
   */
  match(body: string, raw: string, ids: Int32Array = this.all): number {
    const pats = this.set.patterns;
    const prof = this.profile;
    const pre = this.usePrefilter && ids.length >= PREFILTER_FROM ? this.prefilter : null;
    if (pre !== null) pre.scan(body);
    for (let k = 0; k < ids.length; k++) {
      const i = ids[k];
      if (this.skip[i] === 1) continue;
      if (pre !== null && !pre.passes(i)) continue;
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
      // fail2ban's ignoreregex: the line matched, but is not a failure of this pattern
      if (p.ignores !== null) {
        // timed with the pattern: a slow ignoreregex is quarantined with it
        const t0 = prof !== null ? performance.now() : 0;
        const skip = ignored(p.ignores, text);
        if (prof !== null) prof[i] += (performance.now() - t0) * 1e6;
        if (skip) continue;
      }
      this.family = fam;
      return i;
    }
    return -1;
  }
}
