import { type DateTemplate, templatesFor } from '../fail2ban/dates.js';
import { PatternError } from './errors.js';
import { namedGroupIndex, unnamedSource } from './groups.js';
import { enableLinearRegexpEngine } from './regexp-engine.js';
import { translatePattern } from './translate.js';

/** A pattern as configured (config `syslog.patterns`, the database, or a preset). */
export interface PatternSpec {
  name: string;
  regex: string;
  /** Capture group holding the address: index (0 = whole match) or group name. */
  ip_group: number | string;
  severity: number;
  description: string;
  enabled: boolean;
  /** Match the raw syslog line instead of `tag: message`. */
  raw: boolean;
  /**
   * The regex needs the backtracking engine (lookaround, backreferences: imported fail2ban
   * filters): compiled without the linear-time proof, and kept in check at run time by the
   * matcher's time budget and quarantine only. Off unless asked for.
   */
  backtracking?: boolean;
  /**
   * A successful login line, not a failure: the jail that claims the pattern clears the
   * address's count instead of adding to it. Off unless asked for.
   */
  success?: boolean;
  /**
   * fail2ban's `ignoreregex`: a line this pattern matches does not count when one of these
   * matches the same text. Same dialect and engine rules as `regex`; absent or empty: none.
   */
  ignoreregex?: string[];
  /**
   * fail2ban's `datepattern` (imported failregexes): on a line without a syslog header (a web
   * server's or an application's own log file) the date these templates find is cut out before
   * the regex runs, as fail2ban does. `{DEFAULT}`, `{^LN-BEG}`, `{DATE}`, `{NONE}` and strftime
   * templates (`%Y-%m-%d %H:%M:%S`). Absent or empty: such a line is matched whole.
   */
  datepattern?: string[];
}

/** Most `ignoreregex` entries one pattern may carry. */
export const MAX_IGNOREREGEX = 64;
/** Most `datepattern` entries one pattern may carry, and their longest. */
export const MAX_DATEPATTERN = 16;
export const MAX_DATEPATTERN_CHARS = 512;

export interface CompiledPattern {
  /** Position in the set (match records carry it). */
  readonly id: number;
  readonly name: string;
  readonly severity: number;
  readonly description: string;
  readonly raw: boolean;
  /** A success line (the count is reset, nothing is added). */
  readonly success: boolean;
  /** The regex as written (JS syntax): its group names, for analysis. */
  readonly re: RegExp;
  /**
   * What the matcher runs: `re` with its group names dropped, so that a match builds no `groups`
   * object (a third of a matching call's cost); captures are read by number.
   */
  readonly exec: RegExp;
  /** Capture number of the address; -1 when a session pattern names none. */
  readonly ipIndex: number;
  /**
   * When the address group is the one named `ip`: the groups `ip_1`, `ip_2`… (their numbers, in
   * order), read when `ip` did not take part (a fail2ban regex's second address tag,
   * `(?:IPv6:<IP6>|<IP4>)`); null when there are none.
   */
  readonly ipMore: readonly number[] | null;
  /**
   * A substring every match contains, checked with indexOf before the regex runs. Anchored
   * patterns too: the tag already picked them, so most lines they see share their prefix, and
   * a failing regex call costs more than the search (measured; startsWith on the prefix costs
   * more than either).
   */
  readonly literal: string | null;
  /** Text every matching input starts with (`^dovecot: …`), or null. */
  readonly prefix: string | null;
  /**
   * Characters a match of an anchored pattern can start with, when known and there is no
   * prefix (`^(?:nginx: )?(?:\d…)?\[` → n, digits, `[`); null: any.
   */
  readonly firstChars: ReadonlySet<number> | null;
  /**
   * Groups named `nofail` or `nofail_N`: a match that fills one is not a failure (fail2ban's
   * `<F-NOFAIL>`); null when the regex has none.
   */
  readonly nofail: readonly number[] | null;
  /**
   * A pattern with a group named `mlfid` ties lines into sessions (fail2ban's `<F-MLFID>`): each
   * match goes out with the session's id and flags, whether or not it names an address, and the
   * main thread decides with the session's earlier lines. Null: every match is a failure.
   */
  readonly session: SessionGroups | null;
  /** Compiled `ignoreregex` entries; null when it has none. */
  readonly ignores: readonly RegExp[] | null;
  /** The date templates cut out of a line without a syslog header; null: none. */
  readonly dates: readonly DateTemplate[] | null;
  /** `datepattern` as a key: patterns of one filter share one cut per line. */
  readonly datesKey: string | null;
}

/** The groups a session pattern's match is read through (capture numbers). */
export interface SessionGroups {
  readonly mlfid: number;
  /** `user` groups, then `alt_user` ones (fail2ban fills an empty user from its alt_user). */
  readonly users: readonly number[];
  readonly forget: readonly number[];
  readonly gained: readonly number[];
}

/** The numbers of the groups named `base` or `base_N`, in N's order. */
function numbered(index: ReadonlyMap<string, number>, base: string): number[] {
  const out: [number, number][] = [];
  for (const [name, at] of index) {
    if (name === base) out.push([0, at]);
    else if (name.startsWith(`${base}_`) && /^\d+$/.test(name.slice(base.length + 1)))
      out.push([Number(name.slice(base.length + 1)), at]);
  }
  return out.sort((a, b) => a[0] - b[0]).map((x) => x[1]);
}

function sessionGroups(index: ReadonlyMap<string, number>): SessionGroups | null {
  const mlfid = index.get('mlfid');
  if (mlfid === undefined) return null;
  return {
    mlfid,
    users: [...numbered(index, 'user'), ...numbered(index, 'alt_user')],
    forget: numbered(index, 'mlfforget'),
    gained: numbered(index, 'mlfgained'),
  };
}

/**
 * The regex the matcher runs (group names dropped when they can be, checked against V8's own
 * count) and each group name's number.
 */
function runnable(
  name: string,
  source: string,
  flags: string,
  re: RegExp,
  probe: RegExpExecArray,
  names: readonly string[],
  variant: number,
): { exec: RegExp; index: Map<string, number> } {
  const un = names.length > 0 ? unnamedSource(source) : { source, index: new Map<string, number>() };
  // V8 shares one compiled regex between RegExps of the same source; a set compiled beside the
  // one before it (a reload) then matched 20-75 % slower for as long as it ran, even once the
  // old one was gone (measured). Consecutive versions take different sources: 0, 1 or 2 `(?:)`
  // at the end, which match nothing more.
  if (un !== null) un.source += '(?:)'.repeat(((variant % 3) + 3) % 3);
  if (un !== null && un.index.size === names.length) {
    const exec = new RegExp(un.source, flags);
    const check = new RegExp(`${un.source}|`, flags).exec('') as RegExpExecArray;
    if (check.length === probe.length && check.groups === undefined) return { exec, index: un.index };
  }
  const index = new Map<string, number>();
  for (const n of names) {
    const at = namedGroupIndex(source, n);
    if (at === null) throw new PatternError(name, `group "${n}" could not be numbered`);
    index.set(n, at);
  }
  return { exec: re, index };
}

/** Fill in the optional fields of a loosely written pattern (config, API, JSON). */
export function normalizeSpec(p: Partial<PatternSpec> & { name?: unknown; regex?: unknown }): PatternSpec {
  const name = typeof p.name === 'string' ? p.name : '';
  if (name.trim() === '') throw new PatternError(String(p.name ?? ''), 'name is empty');
  if (typeof p.regex !== 'string' || p.regex === '') throw new PatternError(name, 'regex is empty');
  return {
    name,
    regex: p.regex,
    ip_group: p.ip_group ?? 1,
    severity: typeof p.severity === 'number' ? p.severity : 1,
    description: typeof p.description === 'string' ? p.description : '',
    enabled: p.enabled !== false,
    raw: p.raw === true,
    ...(p.backtracking === true ? { backtracking: true } : {}),
    ...(p.success === true ? { success: true } : {}),
    ...(Array.isArray(p.ignoreregex) && p.ignoreregex.length > 0
      ? { ignoreregex: p.ignoreregex.map((x) => String(x)) }
      : {}),
    ...(Array.isArray(p.datepattern) && p.datepattern.length > 0
      ? { datepattern: p.datepattern.map((x) => String(x)) }
      : {}),
  };
}

function compileDates(spec: PatternSpec): DateTemplate[] | null {
  const list = spec.datepattern;
  if (list === undefined || list.length === 0) return null;
  if (list.length > MAX_DATEPATTERN)
    throw new PatternError(spec.name, `datepattern has ${list.length} entries: at most ${MAX_DATEPATTERN}`);
  list.forEach((d, i) => {
    if (typeof d !== 'string' || d.trim() === '')
      throw new PatternError(spec.name, `datepattern[${i}] is empty`);
    if (d.length > MAX_DATEPATTERN_CHARS)
      throw new PatternError(
        spec.name,
        `datepattern[${i}] is ${d.length} characters: at most ${MAX_DATEPATTERN_CHARS}`,
      );
  });
  try {
    return templatesFor(list);
  } catch (err) {
    throw new PatternError(spec.name, `invalid datepattern: ${(err as Error).message}`);
  }
}

/** One regex of a pattern, checked for V8's linear-time engine unless it may backtrack. */
function compileOne(name: string, src: string, backtracking: boolean, what: string): RegExp {
  const t = translatePattern(name, src);
  let re: RegExp;
  try {
    re = new RegExp(t.source, t.flags);
  } catch (err) {
    throw new PatternError(name, `invalid ${what}: ${(err as Error).message}`);
  }
  try {
    if (!backtracking) new RegExp(t.source, `${t.flags}l`);
  } catch {
    throw new PatternError(
      name,
      `${what} cannot run in linear time: backreferences, lookahead/lookbehind and counted repetition ` +
        'above {,16} (nested counts multiply) are not allowed, as in RE2',
    );
  }
  return re;
}

function compileIgnores(spec: PatternSpec): RegExp[] | null {
  const list = spec.ignoreregex;
  if (list === undefined || list.length === 0) return null;
  if (list.length > MAX_IGNOREREGEX)
    throw new PatternError(spec.name, `ignoreregex has ${list.length} entries: at most ${MAX_IGNOREREGEX}`);
  return list.map((src, i) => {
    if (typeof src !== 'string' || src === '')
      throw new PatternError(spec.name, `ignoreregex[${i}] is empty`);
    return compileOne(spec.name, src, spec.backtracking === true, `ignoreregex[${i}]`);
  });
}

/**
 * Compiles one pattern for matching. Throws PatternError naming the pattern when the regex does
 * not compile, cannot run on V8's linear-time engine (so the ReDoS fallback would be impossible),
 * or `ip_group` names a group the regex does not have.
 */
export function compilePattern(spec: PatternSpec, id: number, variant = 0): CompiledPattern {
  enableLinearRegexpEngine();
  const name = spec.name;
  const t = translatePattern(name, spec.regex);
  let re: RegExp;
  try {
    re = new RegExp(t.source, t.flags);
  } catch (err) {
    throw new PatternError(name, `invalid regex: ${(err as Error).message}`);
  }
  try {
    if (spec.backtracking !== true) new RegExp(t.source, `${t.flags}l`);
  } catch {
    throw new PatternError(
      name,
      'regex cannot run in linear time: backreferences, lookahead/lookbehind and counted repetition ' +
        'above {,16} (nested counts multiply) are not allowed, as in RE2',
    );
  }
  const probe = new RegExp(`${t.source}|`, t.flags).exec('') as RegExpExecArray;
  const groups = probe.length - 1;
  const names = probe.groups ? Object.keys(probe.groups) : [];
  const { exec, index } = runnable(name, t.source, t.flags, re, probe, names, variant);
  let ipIndex = -1;
  let ipName: string | null = null;
  const g = spec.ip_group;
  const session = names.includes('mlfid');
  if (typeof g === 'number' || /^\d+$/.test(g)) {
    ipIndex = Number(g);
    if (!Number.isInteger(ipIndex) || ipIndex < 0 || ipIndex > groups) {
      throw new PatternError(name, `ip_group ${g} is out of range: the regex has ${groups} capture group(s)`);
    }
    // as stored (an index): a session pattern's 0 is "no address group", the `ip` group's index
    // is read by name, so that its `ip_1`… stand in when it did not take part
    if (session && ipIndex === 0) ipIndex = -1;
    else if (index.get('ip') === ipIndex) ipName = 'ip';
  } else {
    // a session pattern may name no address: the session's other lines give it
    if (!names.includes(g) && !session) {
      throw new PatternError(
        name,
        `ip_group "${g}" is not a named group of the regex (named groups: ${names.join(', ') || 'none'})`,
      );
    }
    ipName = g;
    ipIndex = index.get(g) ?? -1;
  }
  const ipMore = ipName === 'ip' ? numbered(index, 'ip').slice(1) : [];
  const nofail = numbered(index, 'nofail');
  const plain = !t.caseInsensitive && !t.flags.includes('m');
  const literal = plain ? requiredLiteral(t.source) : null;
  const prefix = plain ? anchoredPrefix(t.source) : null;
  const firstChars = plain && prefix === null ? anchoredFirstChars(t.source) : null;
  return {
    id,
    name,
    severity: spec.severity,
    description: spec.description,
    raw: spec.raw,
    success: spec.success === true,
    re,
    exec,
    ipIndex,
    ipMore: ipMore.length > 0 ? ipMore : null,
    literal,
    prefix,
    firstChars,
    nofail: nofail.length > 0 ? nofail : null,
    session: sessionGroups(index),
    ignores: compileIgnores(spec),
    dates: compileDates(spec),
    datesKey: spec.datepattern && spec.datepattern.length > 0 ? JSON.stringify(spec.datepattern) : null,
  };
}

const SPECIAL = new Set(['.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$']);

/**
 * The longest run of plain characters at the top level of the regex that every match contains
 * (none when the top level has an alternation). Used to skip the regex on lines that cannot match.
 */
export function requiredLiteral(src: string): string | null {
  let best = '';
  let cur = '';
  let depth = 0;
  const flush = () => {
    if (cur.length > best.length) best = cur;
    cur = '';
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      // an escaped punctuation character is a literal; \d, \w, \b … are not
      if (n !== undefined && depth === 0 && !/[0-9A-Za-z]/.test(n)) {
        if (isQuantifier(src[i + 2])) flush();
        else cur += n;
        i++;
      } else {
        if (depth === 0) flush();
        // and what such an escape takes after its letter is not text either (\k<name>, \x41)
        i += escapeLength(src, i + 1);
      }
      continue;
    }
    if (c === '[') {
      if (depth === 0) flush();
      let j = i + 1;
      while (j < src.length && src[j] !== ']') j += src[j] === '\\' ? 2 : 1;
      i = j;
      continue;
    }
    if (c === '(') {
      if (depth === 0) flush();
      depth++;
      continue;
    }
    if (c === ')') {
      depth--;
      continue;
    }
    if (c === '|' && depth === 0) return null;
    if (depth > 0) continue;
    if (SPECIAL.has(c)) {
      flush();
      // a counted quantifier's digits (`\d{1,3}`) are not text of the line
      if (c === '{') {
        const q = /^\{\d+(?:,\d*)?\}/.exec(src.slice(i, i + 24));
        if (q !== null) i += q[0].length - 1;
      }
      continue;
    }
    if (isQuantifier(src[i + 1])) {
      flush();
      continue;
    }
    cur += c;
  }
  flush();
  return best.length >= 3 ? best : null;
}

/** The literal text right after a leading `^` (`^postfix/smtpd` → `postfix/smtpd`), or null. */
export function anchoredPrefix(src: string): string | null {
  if (src[0] !== '^') return null;
  let out = '';
  for (let i = 1; i < src.length; i++) {
    let c = src[i];
    let width = 1;
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined || /[0-9A-Za-z]/.test(n)) break;
      c = n;
      width = 2;
    } else if (SPECIAL.has(c)) {
      break;
    }
    if (isQuantifier(src[i + width])) break;
    out += c;
    i += width - 1;
  }
  return out.length > 0 ? out : null;
}

/**
 * The characters a match of `^…` can start with, or null when unknown (classes, `.`, `\w`…) or
 * when the match can be empty. Understands literals, escaped punctuation, `\d`, groups with
 * alternatives and the quantifiers that make an atom optional: anything else answers null, so
 * the answer is never narrower than the truth.
 */
export function anchoredFirstChars(src: string): Set<number> | null {
  if (src[0] !== '^') return null;
  const out = new Set<number>();
  const r = firstOfSequence(src, 1, out);
  // a top-level `|` leaves the other alternatives unanchored
  return r === null || r.nullable || r.end !== src.length ? null : out;
}

/** Adds the first characters of the sequence at `i` (up to `|`, `)` or the end) to `out`. */
function firstOfSequence(
  src: string,
  i: number,
  out: Set<number>,
): { end: number; nullable: boolean } | null {
  while (i < src.length && src[i] !== '|' && src[i] !== ')') {
    const atomOut = new Set<number>();
    let atomNullable = false;
    let next: number;
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) return null;
      if (n === 'd') for (let d = 48; d <= 57; d++) atomOut.add(d);
      else if (n === 'b' || n === 'B') atomNullable = true;
      else if (/[0-9A-Za-z]/.test(n)) return null;
      else atomOut.add(n.charCodeAt(0));
      next = i + 2;
    } else if (c === '(') {
      let j = i + 1;
      if (src[j] === '?') {
        if (src[j + 1] === ':') j += 2;
        else if (src[j + 1] === '<' && /[A-Za-z_$]/.test(src[j + 2] ?? '')) j = src.indexOf('>', j) + 1;
        else return null; // lookaround or other group kinds
      }
      // alternatives until the matching `)`
      for (;;) {
        const alt = firstOfSequence(src, j, atomOut);
        if (alt === null) return null;
        if (alt.nullable) atomNullable = true;
        j = alt.end;
        if (src[j] === '|') {
          j++;
          continue;
        }
        if (src[j] !== ')') return null;
        break;
      }
      next = j + 1;
    } else if (c === '$') {
      atomNullable = true;
      next = i + 1;
    } else if (SPECIAL.has(c)) {
      return null; // `.`, `[…]`, a stray quantifier…
    } else {
      atomOut.add(c.charCodeAt(0));
      next = i + 1;
    }
    // a quantifier that allows zero repetitions makes the atom optional
    const q = src[next];
    if (q === '?' || q === '*') {
      atomNullable = true;
      next++;
    } else if (q === '+') {
      next++;
    } else if (q === '{') {
      const m = /^\{(\d+)(?:,\d*)?\}/.exec(src.slice(next, next + 24));
      if (m === null) return null;
      if (Number(m[1]) === 0) atomNullable = true;
      next += m[0].length;
    }
    if (src[next] === '?') next++; // lazy
    for (const x of atomOut) out.add(x);
    if (!atomNullable) return { end: skipSequence(src, next), nullable: false };
    i = next;
  }
  return { end: i, nullable: true };
}

/** End of the sequence at `i`: the next `|` or `)` at this depth, or the end. */
function skipSequence(src: string, i: number): number {
  let depth = 0;
  for (; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i++;
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      if (depth === 0) return i;
      depth--;
    } else if (c === '|' && depth === 0) {
      return i;
    }
  }
  return i;
}

/** Characters of the escape whose letter is at `i` (`k<name>`, `x41`, `u{1F600}`, `12`, `d`). */
function escapeLength(src: string, i: number): number {
  const rest = src.slice(i, i + 40);
  const m =
    /^(?:k<[^>]*>|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|[pP]\{[^}]*\}|c[A-Za-z]|[1-9][0-9]*)/.exec(
      rest,
    );
  return m !== null ? m[0].length : 1;
}

function isQuantifier(c: string | undefined): boolean {
  return c === '*' || c === '?' || c === '{' || c === '+';
}

/**
 * Validation entry for the config loader: translates (`(?P<…>`, leading `(?i)`) and checks the
 * regex exactly as the matcher will (compiles, linear-time capable). Returns the JS RegExp;
 * throws PatternError naming the pattern.
 */
export function compileRegex(name: string, regex: string): RegExp {
  return compilePattern(
    { name, regex, ip_group: 0, severity: 1, description: '', enabled: true, raw: false },
    0,
  ).re;
}
