import { type DateTemplate, LEAD_NONE, LEAD_NONWORD, leadOf } from '../fail2ban/dates.js';
import { wordAt } from '../fail2ban/first-chars.js';
import { type DateList, LineDates, needsBracket } from '../fail2ban/line-dates.js';
import { FAMILY_INVALID, parseIpInto } from '../ip/parse.js';
import {
  type CompiledPattern,
  compilePattern,
  normalizeSpec,
  type PatternSpec,
  type SessionGroups,
} from './compile.js';
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

  /** Any pattern has a `datepattern` (the worker then keeps the line without its `<PRI>`). */
  readonly needsLine: boolean;

  constructor(version: number, specs: readonly PatternSpec[]) {
    this.version = version;
    const enabled = specs.map((s) => normalizeSpec(s)).filter((s) => s.enabled);
    // consecutive versions' regexes differ in source (see compilePattern): none shares V8's code
    this.patterns = enabled.map((s, i) => compilePattern(s, i, version));
    this.needsRaw = this.patterns.some((p) => p.raw);
    this.needsBody = this.patterns.some((p) => !p.raw);
    this.needsLine = this.patterns.some((p) => !p.raw && p.dates !== null);
  }
}

/** `s` holds `t` at `at` (a loop: startsWith costs more on the strings the matcher sees). */
function sameAt(s: string, at: number, t: string): boolean {
  for (let k = 0; k < t.length; k++) if (s.charCodeAt(at + k) !== t.charCodeAt(k)) return false;
  return true;
}

/** The first of the captures (by number) that is not empty, or ''. */
function firstOf(at: readonly number[], m: RegExpExecArray): string {
  for (let k = 0; k < at.length; k++) {
    const v = m[at[k]];
    if (v) return v;
  }
  return '';
}

/** One of the captures (by number) took part in the match. */
function anyOf(at: readonly number[], m: RegExpExecArray): boolean {
  for (let k = 0; k < at.length; k++) if (m[at[k]] !== undefined) return true;
  return false;
}

/**
 * Characters of a session id and of a user name the session rules keep: the main thread holds
 * thousands of sessions, and a line may be 8 KiB long.
 */
const SESSION_ID_CHARS = 256;
const SESSION_USER_CHARS = 128;

/** A session pattern's match as the main thread's session rules read it. */
function sessionOf(s: SessionGroups, nofail: readonly number[] | null, m: RegExpExecArray): string {
  const flags =
    (nofail !== null && anyOf(nofail, m) ? 1 : 0) |
    (anyOf(s.forget, m) ? 2 : 0) |
    (anyOf(s.gained, m) ? 4 : 0);
  const id = (m[s.mlfid] ?? '').slice(0, SESSION_ID_CHARS);
  return `${flags}\0${id}\0${firstOf(s.users, m).slice(0, SESSION_USER_CHARS)}`;
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

/** The datepatterns that are fail2ban's default templates. */
const DEFAULT_DATES = new Set(['["{^LN-BEG}"]', '["{DEFAULT}"]']);

/**
 * Past a syslog timestamp's end: the ` YYYY` some writers add after the time, which fail2ban's
 * default template takes as part of the date.
 */
function yearEnd(line: string, at: number): number {
  if (line.charCodeAt(at) !== 32 || line.charCodeAt(at + 1) !== 50 || line.charCodeAt(at + 2) !== 48)
    return at;
  const c3 = line.charCodeAt(at + 3);
  const c4 = line.charCodeAt(at + 4);
  if (c3 < 48 || c3 > 50 || c4 < 48 || c4 > 57) return at;
  const next = line.charCodeAt(at + 5);
  return Number.isNaN(next) || next === 32 ? at + 5 : at;
}

/** Slots of the per-line tag cache (a power of two). */
const TAG_SLOTS = 256;

/**
 * First-match-wins matcher: one line counts as at most one failure, for the first pattern (in
 * order) that matches *and* captures a valid address. The address is canonicalised into `addr`
 * (4 bytes for IPv4, v4-mapped folded; 16 for IPv6).
 */
export class LineMatcher {
  readonly addr = new Uint8Array(16);
  /** 0: a session pattern matched a line that names no address (the session gives it). */
  family: 0 | 4 | 6 = 4;
  /**
   * The last match's session (a session pattern's: `flags \0 mlfid \0 user`, flags 1 nofail,
   * 2 forget, 4 gained), '' for any other pattern.
   */
  session = '';
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

  /** Per pattern: its date cut (index into cutTemplates), -1 for none (and for raw ones). */
  private readonly cutOf: Int32Array;
  private readonly cutTemplates: (readonly DateTemplate[])[] = [];
  /** Per cut: its templates as `dates` takes them, and the one that found the last date. */
  private readonly cutLists: DateList[] = [];
  private readonly cutLast: Int32Array;
  /** Template matches of the line, shared by the cuts; `datesLine`: the line they are for. */
  private readonly dates = new LineDates();
  private datesLine = -1;
  /** The line each cut's text was made for (`line`), and that text. */
  private readonly cutLine: Float64Array;
  private readonly cutText: string[] = [];
  /** 1 where the cut is fail2ban's default templates: a syslog timestamp is then the date. */
  private readonly cutDefault: number[] = [];
  /** The syslog timestamp of the line being matched, in `line` (-1: none). */
  private tsFrom = -1;
  private tsTo = -1;
  /** The line each cut's date span was found for (`line`), and that span (-1: no date). */
  private readonly spanLine: Float64Array;
  private readonly cutFrom: Int32Array;
  private readonly cutTo: Int32Array;
  /** The line each cut's `joined` answer is for, and that answer. */
  private readonly joinedLine: Float64Array;
  private readonly joinedNow: Uint8Array;
  /** Per cut: the most any of its templates lets stand before the date (LEAD_*). */
  private readonly cutLead: Uint8Array;
  /** The same over the templates that need no `[` (for a line without one). */
  private readonly cutLeadOpen: Uint8Array;
  /**
   * One scan of the uncut line for every date-cut pattern. A literal in the cut text is in the
   * line too unless it runs across the join; so where the cut joins, the literals around the
   * join are added (scanJoin) before a pattern is ruled out.
   */
  private readonly cutPrefilter: Prefilter | null;
  private cutScanned = -1;
  /** The line and span whose join `scanJoin` scanned last. */
  private joinLine = -1;
  private joinFrom = -1;
  private joinTo = -1;
  private line = 0;

  constructor(readonly set: PatternSet) {
    this.skip = new Uint8Array(set.patterns.length);
    this.cutOf = new Int32Array(set.patterns.length).fill(-1);
    const keys = new Map<string, number>();
    for (const p of set.patterns) {
      // raw patterns see the raw line: never cut
      if (p.raw || p.dates === null || p.datesKey === null) continue;
      let k = keys.get(p.datesKey);
      if (k === undefined) {
        k = this.cutTemplates.length;
        keys.set(p.datesKey, k);
        this.cutTemplates.push(p.dates);
        this.cutDefault.push(DEFAULT_DATES.has(p.datesKey) ? 1 : 0);
        this.cutLists.push(this.dates.list(p.dates));
        this.cutText.push('');
      }
      this.cutOf[p.id] = k;
    }
    this.cutLine = new Float64Array(this.cutTemplates.length).fill(-1);
    // per cut: the template that found the last date, and where its match started and ended
    this.cutLast = new Int32Array(this.cutTemplates.length * 3).fill(-1);
    this.spanLine = new Float64Array(this.cutTemplates.length).fill(-1);
    this.cutFrom = new Int32Array(this.cutTemplates.length);
    this.cutTo = new Int32Array(this.cutTemplates.length);
    this.joinedLine = new Float64Array(this.cutTemplates.length).fill(-1);
    this.joinedNow = new Uint8Array(this.cutTemplates.length);
    this.cutLead = Uint8Array.from(this.cutTemplates, (ts) => Math.max(LEAD_NONE, ...ts.map(leadOf)));
    this.cutLeadOpen = Uint8Array.from(this.cutTemplates, (ts) =>
      Math.max(LEAD_NONE, ...ts.filter((t) => !needsBracket(t)).map(leadOf)),
    );
    const cutting = (p: CompiledPattern) => this.cutOf[p.id] >= 0;
    // date-cut patterns are candidates of every line (no tag rules them out): a scan pays sooner
    const cp =
      set.patterns.filter(cutting).length >= PREFILTER_FROM ? new Prefilter(set.patterns, cutting) : null;
    this.cutPrefilter = cp !== null && cp.filtered > 0 ? cp : null;
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
      // date-cut patterns see the whole line (host, tag[pid]), not `tag: `: no tag rules them out
      if (p.raw || p.dates !== null) ids.push(p.id);
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

  /** Patterns some literal scan can rule out (the plain one, and each date cut's). */
  get prefiltered(): number {
    return (this.prefilter?.filtered ?? 0) + (this.cutPrefilter?.filtered ?? 0);
  }

  /**
   * The span of the date the cut's templates find in the line (`cutFrom`, `cutTo`; -1: none),
   * found once per line and cut. Only the span: the text is made when a regex needs it.
   */
  private span(k: number, line: string): void {
    if (this.spanLine[k] === this.line) return;
    this.spanLine[k] = this.line;
    if (this.cutDefault[k] === 1 && this.tsFrom === 0) {
      // the syslog parser found the date where fail2ban's default templates would: the same span
      this.cutFrom[k] = 0;
      this.cutTo[k] = yearEnd(line, this.tsTo);
      return;
    }
    const d = this.dates;
    if (this.datesLine !== this.line) {
      d.reset(line);
      this.datesLine = this.line;
    }
    const found = d.find(this.cutLists[k], this.cutLast, k);
    this.cutFrom[k] = found ? d.start : -1;
    this.cutTo[k] = found ? d.end : -1;
  }

  /**
   * The line without the date the cut's templates find (fail2ban's text for its regexes: what
   * is before the date and what is after it), made once per line and cut.
   */
  private cut(k: number, line: string): string {
    if (this.cutLine[k] === this.line) return this.cutText[k];
    this.span(k, line);
    const a = this.cutFrom[k];
    const text =
      a < 0 ? line : a === 0 ? line.slice(this.cutTo[k]) : line.slice(0, a) + line.slice(this.cutTo[k]);
    this.cutLine[k] = this.line;
    this.cutText[k] = text;
    return text;
  }

  /** The cut of the line joins two parts, so a literal may run across the join. */
  private joined(k: number, line: string): boolean {
    // asked for every pattern of the cut the literal scan rules out: decided once per line
    if (this.joinedLine[k] === this.line) return this.joinedNow[k] === 1;
    const j = this.joins(k, line);
    this.joinedLine[k] = this.line;
    this.joinedNow[k] = j ? 1 : 0;
    return j;
  }

  private joins(k: number, line: string): boolean {
    // the syslog timestamp is at the start: nothing before the date, no join (and no date found)
    if (this.cutDefault[k] === 1 && this.tsFrom === 0) return false;
    // no template lets text stand before its date, or only non-word characters and the line
    // starts with a word character: the cut cannot join, no need to find the date
    let lead = this.cutLead[k];
    // `[^\[]*\[(…` forms (a web server's `[date]`) cannot match a line without a `[`
    if (lead > this.cutLeadOpen[k] && line.indexOf('[') < 0) lead = this.cutLeadOpen[k];
    if (lead === LEAD_NONE || (lead === LEAD_NONWORD && wordAt(line, 0))) return false;
    this.span(k, line);
    return this.cutFrom[k] > 0;
  }

  /**
   * Adds to the line's literal marks those of the cut text around its join (cut `k`): a literal
   * missing from the line can be in the cut text only across the join, so within `longest - 1`
   * characters of it. Once per distinct span and line.
   */
  private scanJoin(cp: Prefilter, k: number, line: string): void {
    const s = this.cutFrom[k];
    const e = this.cutTo[k];
    if (this.joinLine === this.line && this.joinFrom === s && this.joinTo === e) return;
    this.joinLine = this.line;
    this.joinFrom = s;
    this.joinTo = e;
    const w = cp.longest - 1;
    cp.scanJoined(line, Math.max(0, s - w), s, e, Math.min(line.length, e + w));
  }

  /**
   * Returns the matching pattern id or -1. `body` is `tag: message`; `raw` the line as received;
   * `ids` the candidates of the line's tag (candidatesAt), all patterns by default. `line`: the
   * line without its `<PRI>` (when the set needsLine and the line is not RFC 5424): patterns with
   * a `datepattern` see it without its date, as fail2ban's regexes see a log line. `tsFrom`,
   * `tsTo`: the span in `line` of a `Mmm dd hh:mm:ss` syslog timestamp at its start (-1: none),
   * which is the date fail2ban's default templates find.
   */
  match(body: string, raw: string, ids: Int32Array = this.all, line = '', tsFrom = -1, tsTo = -1): number {
    this.line++;
    this.tsFrom = tsFrom;
    this.tsTo = tsTo;
    const pats = this.set.patterns;
    const prof = this.profile;
    const big = this.usePrefilter && ids.length >= PREFILTER_FROM;
    const pre = big ? this.prefilter : null;
    if (pre !== null) pre.scan(body);
    for (let k = 0; k < ids.length; k++) {
      const i = ids[k];
      if (this.skip[i] === 1) continue;
      // typed arrays only until the pattern is a candidate: most are ruled out here
      const cut = this.cutOf[i];
      if (cut < 0) {
        if (pre !== null && !pre.passes(i)) continue;
      } else if (line !== '') {
        const cp = this.usePrefilter ? this.cutPrefilter : null;
        if (cp !== null) {
          if (this.cutScanned !== this.line) {
            cp.scan(line);
            this.cutScanned = this.line;
          }
          if (!cp.passes(i)) {
            // the cut made here is the pattern's cost too: a slow datepattern is quarantined with it
            const t0 = prof !== null ? performance.now() : 0;
            const joined = this.joined(cut, line);
            if (joined) this.scanJoin(cp, cut, line);
            if (prof !== null) prof[i] += (performance.now() - t0) * 1e6;
            if (!joined || !cp.passes(i)) continue;
          }
        }
      }
      const p = pats[i];
      const cutting = cut >= 0 && line !== '';
      let text: string;
      let m: RegExpExecArray | null;
      if (prof !== null) {
        // the date cut is timed with the pattern: a slow datepattern is quarantined with it
        const t0 = performance.now();
        text = cutting ? this.cut(cut, line) : p.raw ? raw : body;
        m = p.literal !== null && text.indexOf(p.literal) < 0 ? null : p.exec.exec(text);
        prof[i] += (performance.now() - t0) * 1e6;
      } else {
        text = cutting ? this.cut(cut, line) : p.raw ? raw : body;
        if (p.literal !== null && text.indexOf(p.literal) < 0) continue;
        m = p.exec.exec(text);
      }
      if (m === null) continue;
      const ses = p.session;
      // a session's context line (nofail) still informs the session
      if (ses === null && p.nofail !== null && anyOf(p.nofail, m)) continue;
      let cap = p.ipIndex >= 0 ? m[p.ipIndex] : undefined;
      if (cap === undefined && p.ipMore !== null) cap = firstOf(p.ipMore, m) || undefined;
      let fam: number = FAMILY_INVALID;
      if (cap !== undefined) {
        let a = 0;
        let b = cap.length;
        while (a < b && cap.charCodeAt(a) <= 32) a++;
        while (b > a && cap.charCodeAt(b - 1) <= 32) b--;
        fam = parseIpInto(cap, this.addr, a, b);
      }
      if (fam === FAMILY_INVALID) {
        if (ses === null) continue;
        fam = 0;
        this.addr.fill(0);
      }
      // fail2ban's ignoreregex: the line matched, but is not a failure of this pattern
      if (p.ignores !== null) {
        // timed with the pattern: a slow ignoreregex is quarantined with it
        const t0 = prof !== null ? performance.now() : 0;
        const skip = ignored(p.ignores, text);
        if (prof !== null) prof[i] += (performance.now() - t0) * 1e6;
        if (skip) continue;
      }
      this.family = fam as 0 | 4 | 6;
      this.session = ses === null ? '' : sessionOf(ses, p.nofail, m);
      return i;
    }
    return -1;
  }
}
