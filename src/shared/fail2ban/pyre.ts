/**
 * Python `re` syntax → JavaScript RegExp source. fail2ban filters are written for Python; most
 * of the syntax is shared, the rest is rewritten here: `(?P<n>…)` → `(?<n>…)`, `(?P=n)` →
 * `\k<n>`, `(?i)` / `(?i:…)` → case folded into the source (V8 on Node 20 has no scoped
 * modifiers), `\Z` → `$`, `\A` → `^`, `{,n}` → `{0,n}`, `(?#…)` dropped. Conditionals
 * `(?(name)yes|no)` have no JS form: they are split into variants (see expandConditionals).
 */
export class PyRegexError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'PyRegexError';
  }
}

/** End (exclusive) of the escape at `i` (the backslash). */
function escEnd(s: string, i: number): number {
  const c = s[i + 1];
  if (c === 'x') return i + 4;
  if (c === 'u') return i + 6;
  if (c === 'U') return i + 10;
  return Math.min(s.length, i + 2);
}

/** Index just past the `]` closing the class opened at `start` (Python: a leading `]` is literal). */
export function classEnd(s: string, start: number): number {
  let i = start + 1;
  if (s[i] === '^') i++;
  if (s[i] === ']') i++;
  while (i < s.length) {
    if (s[i] === '\\') i = escEnd(s, i);
    else if (s[i] === ']') return i + 1;
    else i++;
  }
  throw new PyRegexError(`unterminated character class at offset ${start}`);
}

/** Index of the `)` closing the group opened at `open`. */
export function groupEnd(s: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      i = escEnd(s, i);
      continue;
    }
    if (c === '[') {
      i = classEnd(s, i);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return i;
    }
    i++;
  }
  throw new PyRegexError(`unbalanced parenthesis at offset ${open}`);
}

function fold(c: string): string {
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  return lo !== up && lo.length === 1 && up.length === 1 ? `[${lo}${up}]` : c;
}

function foldClass(cls: string): string {
  const neg = cls[1] === '^';
  const body = cls.slice(neg ? 2 : 1, -1);
  let extra = '';
  let i = 0;
  while (i < body.length) {
    if (body[i] === '\\') {
      i = escEnd(body, i);
      continue;
    }
    const a = body[i];
    if (body[i + 1] === '-' && i + 2 < body.length && body[i + 2] !== '\\') {
      const b = body[i + 2];
      const lo = a.charCodeAt(0);
      const hi = b.charCodeAt(0);
      const l1 = Math.max(lo, 97);
      const h1 = Math.min(hi, 122);
      if (l1 <= h1) extra += `${String.fromCharCode(l1 - 32)}-${String.fromCharCode(h1 - 32)}`;
      const l2 = Math.max(lo, 65);
      const h2 = Math.min(hi, 90);
      if (l2 <= h2) extra += `${String.fromCharCode(l2 + 32)}-${String.fromCharCode(h2 + 32)}`;
      i += 3;
      continue;
    }
    const lo = a.toLowerCase();
    const up = a.toUpperCase();
    if (lo !== up) extra += a === lo ? up : lo;
    i++;
  }
  const first = body.startsWith(']') ? `\\]${body.slice(1)}` : body;
  return `[${neg ? '^' : ''}${first}${extra}]`;
}

export interface JsRegex {
  source: string;
  /** What keeps it off V8's linear-time engine: lookaround, backreference (empty: none found). */
  backtracking: string[];
}

/** Translates one Python regex (no conditionals left) into a JS source. */
export function pyToJs(input: string): JsRegex {
  const back = new Set<string>();
  let src = input;
  let ci = false;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'i') ci = true;
      else if (f !== 'u' && f !== 'a') throw new PyRegexError(`inline flag (?${f}) is not supported`);
    }
    src = src.slice(lead[0].length);
  }
  const out = rewrite(src, ci, back);
  return { source: out, backtracking: [...back] };
}

function rewrite(s: string, ci: boolean, back: Set<string>): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      const e = escEnd(s, i);
      const esc = s.slice(i, e);
      if (esc === '\\Z' || esc === '\\z') out += '$';
      else if (esc === '\\A') out += '^';
      else if (/^\\[1-9]$/.test(esc)) {
        back.add('backreference');
        out += esc;
      } else out += esc;
      i = e;
      continue;
    }
    if (c === '[') {
      const e = classEnd(s, i);
      let cls = s.slice(i, e);
      // a `[` inside a class is literal in Python; JS without the u flag agrees
      if (cls.startsWith('[]') || cls.startsWith('[^]')) cls = cls.replace(/^\[(\^?)\]/, '[$1\\]');
      out += ci ? foldClass(cls) : cls;
      i = e;
      continue;
    }
    if (c === '(' && s[i + 1] === '?') {
      const rest = s.slice(i, i + 40);
      const named = /^\(\?P<([A-Za-z_]\w*)>/.exec(rest);
      const ref = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest);
      const scoped = /^\(\?([aiLmsux]+)(?:-[imsx]+)?:/.exec(rest);
      const global = /^\(\?([aiLmsux]+)\)/.exec(rest);
      if (named) {
        out += `(?<${named[1]}>`;
        i += named[0].length;
      } else if (ref) {
        back.add('backreference');
        out += `\\k<${ref[1]}>`;
        i += ref[0].length;
      } else if (rest.startsWith('(?#')) {
        i = s.indexOf(')', i) + 1;
        if (i === 0) throw new PyRegexError('unterminated (?#…) comment');
      } else if (scoped) {
        if (/[msx]/.test(scoped[1])) throw new PyRegexError(`scoped flag (?${scoped[1]}:…) is not supported`);
        const end = groupEnd(s, i);
        out += `(?:${rewrite(s.slice(i + scoped[0].length, end), ci || scoped[1].includes('i'), back)})`;
        i = end + 1;
      } else if (global) {
        // a global flag not at the start (Python < 3.11 allowed it): applies to the rest
        if (!/^[iua]+$/.test(global[1]))
          throw new PyRegexError(`inline flag (?${global[1]}) is not supported here`);
        if (global[1].includes('i')) ci = true;
        i += global[0].length;
      } else if (rest.startsWith('(?:')) {
        out += '(?:';
        i += 3;
      } else if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
        back.add('lookahead');
        out += rest.slice(0, 3);
        i += 3;
      } else if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
        back.add('lookbehind');
        out += rest.slice(0, 4);
        i += 4;
      } else if (rest.startsWith('(?(')) {
        throw new PyRegexError('conditional group (?(name)…) left after expansion');
      } else if (rest.startsWith('(?>')) {
        throw new PyRegexError('atomic group (?>…) has no JavaScript equivalent');
      } else {
        throw new PyRegexError(`unsupported group syntax ${rest.slice(0, 6)}…`);
      }
      continue;
    }
    if (c === '{') {
      const m = /^\{(\d*),(\d*)\}/.exec(s.slice(i, i + 24)) ?? /^\{(\d+)\}/.exec(s.slice(i, i + 24));
      if (m) {
        out += m[0].startsWith('{,') ? `{0${m[0].slice(1)}` : m[0];
        i += m[0].length;
        continue;
      }
      out += '\\{';
      i++;
      continue;
    }
    if (c === '}') {
      out += '\\}';
      i++;
      continue;
    }
    out += ci ? fold(c) : c;
    i++;
  }
  return out;
}

/** A regex without conditionals, valid when the named groups did / did not take part. */
export interface Variant {
  source: string;
  /** Group name → must have participated (true) or not (false) in the match. */
  require: Record<string, boolean>;
}

/** Variants per regex at most (two per conditional: 2^4). */
const MAX_VARIANTS = 16;

/**
 * `(?(name)yes|no)` → two regexes, one with `yes` where the group must have matched, one with
 * `no` where it must not have; the caller tries them in order and keeps the first match that
 * satisfies its requirements. Python picks among the same paths, so verdicts agree unless a
 * line has two different matches (fail2ban's filters avoid that).
 */
export function expandConditionals(src: string): Variant[] {
  let variants: Variant[] = [{ source: src, require: {} }];
  for (let round = 0; round < 8; round++) {
    const next: Variant[] = [];
    let changed = false;
    for (const v of variants) {
      const at = findConditional(v.source);
      if (at < 0) {
        next.push(v);
        continue;
      }
      changed = true;
      const close = v.source.indexOf(')', at + 3);
      const name = v.source.slice(at + 3, close);
      const end = groupEnd(v.source, at);
      const body = v.source.slice(close + 1, end);
      const bar = topLevelBar(body);
      const yes = bar < 0 ? body : body.slice(0, bar);
      const no = bar < 0 ? '' : body.slice(bar + 1);
      const head = v.source.slice(0, at);
      const tail = v.source.slice(end + 1);
      if (v.require[name] !== false) {
        next.push({ source: `${head}(?:${yes})${tail}`, require: { ...v.require, [name]: true } });
      }
      if (v.require[name] !== true) {
        // the group must not take part: paths through it are cut off, so the engine finds the
        // path Python's conditional would have taken
        const cut = withoutGroup(`${head}(?:${no})${tail}`, name);
        next.push({ source: cut, require: { ...v.require, [name]: false } });
      }
    }
    variants = next;
    if (variants.length > MAX_VARIANTS) throw new PyRegexError('too many conditional groups');
    if (!changed) break;
  }
  return variants;
}

/** `(?P<name>…)` replaced by a group that never matches. */
function withoutGroup(s: string, name: string): string {
  const at = s.indexOf(`(?P<${name}>`);
  if (at < 0) return s;
  return `${s.slice(0, at)}(?!)${s.slice(groupEnd(s, at) + 1)}`;
}

function findConditional(s: string): number {
  let i = 0;
  while (i < s.length) {
    if (s[i] === '\\') {
      i = escEnd(s, i);
      continue;
    }
    if (s[i] === '[') {
      i = classEnd(s, i);
      continue;
    }
    if (s.startsWith('(?(', i)) return i;
    i++;
  }
  return -1;
}

/** Index of the first `|` outside groups and classes, or -1. */
export function topLevelBar(s: string): number {
  let depth = 0;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      i = escEnd(s, i);
      continue;
    }
    if (c === '[') {
      i = classEnd(s, i);
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return i;
    i++;
  }
  return -1;
}
