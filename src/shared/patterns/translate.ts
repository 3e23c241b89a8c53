import { PatternError } from './errors.js';

/** A pattern's source turned into what V8 compiles: JS syntax, flags without `i`. */
export interface TranslatedSource {
  source: string;
  /** JS flags (`m`, `s`); never `i` (expanded into the source) nor `u`. */
  flags: string;
  caseInsensitive: boolean;
}

/**
 * Accepts RE2/Go syntax the reference configs use and turns it into a JS RegExp source:
 * `(?P<name>…)` → `(?<name>…)`, a leading `(?i)`/`(?s)`/`(?m)` (any combination) → flags,
 * `\A` → `^`, `\z` → `$`. Case-insensitivity is compiled into the source (`a` → `[aA]`) rather
 * than the `i` flag, because V8's linear-time engine (the ReDoS fallback) refuses `i` on Node 20.
 */
export function translatePattern(name: string, input: string): TranslatedSource {
  let src = input;
  let ci = false;
  let flags = '';
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'i') ci = true;
      else if (f === 'm' || f === 's') {
        if (!flags.includes(f)) flags += f;
      } else throw new PatternError(name, `unsupported inline flag '${f}' in (?${lead[1]})`);
    }
    src = src.slice(lead[0].length);
  }
  return { source: rewrite(name, src, ci), flags, caseInsensitive: ci };
}

function isLetter(c: string): boolean {
  return c.toLowerCase() !== c.toUpperCase() && c.length === 1;
}

function bothCases(c: string): string {
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  if (lo.length !== 1 || up.length !== 1 || lo === up) return c;
  return lo + up;
}

/** Length of the escape starting at `i` (which holds the backslash). */
function escapeLength(s: string, i: number): number {
  const c = s[i + 1];
  if (c === undefined) return 1;
  if (c === 'x') return 4;
  if (c === 'u') {
    if (s[i + 2] === '{') {
      const close = s.indexOf('}', i + 3);
      return close < 0 ? 2 : close - i + 1;
    }
    return 6;
  }
  if (c === 'c') return 3;
  if (c === 'p' || c === 'P') {
    if (s[i + 2] === '{') {
      const close = s.indexOf('}', i + 3);
      return close < 0 ? 2 : close - i + 1;
    }
    return 2;
  }
  if (c === 'k' && s[i + 2] === '<') {
    const close = s.indexOf('>', i + 3);
    return close < 0 ? 2 : close - i + 1;
  }
  return 2;
}

function rewrite(name: string, s: string, ci: boolean): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      const n = escapeLength(s, i);
      const esc = s.slice(i, i + n);
      if (esc === '\\A') out += '^';
      else if (esc === '\\z') out += '$';
      else if (esc === '\\Q' || esc === '\\E')
        throw new PatternError(name, '\\Q…\\E quoting is not supported');
      else out += esc;
      i += n;
      continue;
    }
    if (c === '[') {
      const end = classEnd(s, i);
      if (end < 0) throw new PatternError(name, `unterminated character class at offset ${i}`);
      out += ci ? foldClass(s.slice(i, end + 1)) : s.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (c === '(' && s[i + 1] === '?') {
      if (s.startsWith('(?P<', i)) {
        const close = s.indexOf('>', i + 4);
        if (close < 0) throw new PatternError(name, `unterminated group name at offset ${i}`);
        out += `(?<${s.slice(i + 4, close)}>`;
        i = close + 1;
        continue;
      }
      const next = s[i + 2];
      if (next === '<' && s[i + 3] !== '=' && s[i + 3] !== '!') {
        const close = s.indexOf('>', i + 3);
        if (close < 0) throw new PatternError(name, `unterminated group name at offset ${i}`);
        out += s.slice(i, close + 1);
        i = close + 1;
        continue;
      }
      if (next === ':' || next === '=' || next === '!' || next === '<') {
        out += s.slice(i, i + (next === '<' ? 4 : 3));
        i += next === '<' ? 4 : 3;
        continue;
      }
      throw new PatternError(
        name,
        `inline flags are only supported at the very start of the pattern (offset ${i}: ${s.slice(i, i + 6)}…)`,
      );
    }
    if (c === '{') {
      // quantifier braces hold digits and commas only: copy as is
      const close = s.indexOf('}', i);
      if (close > 0 && /^\{\d*,?\d*\}$/.test(s.slice(i, close + 1))) {
        out += s.slice(i, close + 1);
        i = close + 1;
        continue;
      }
    }
    if (ci && isLetter(c)) {
      const both = bothCases(c);
      out += both.length === 2 ? `[${both}]` : c;
    } else out += c;
    i++;
  }
  return out;
}

/** Index of the `]` closing the class that opens at `start`, or -1. */
function classEnd(s: string, start: number): number {
  let i = start + 1;
  if (s[i] === '^') i++;
  if (s[i] === ']') i++; // a leading ']' is literal in RE2
  for (; i < s.length; i++) {
    if (s[i] === '\\') {
      i += escapeLength(s, i) - 1;
      continue;
    }
    if (s[i] === ']') return i;
  }
  return -1;
}

/** `[a-fx]` → `[a-fxA-FX]`: adds the other case of every letter and letter range. */
function foldClass(cls: string): string {
  const neg = cls[1] === '^';
  let body = cls.slice(neg ? 2 : 1, -1);
  if (body.startsWith(']')) body = `\\]${body.slice(1)}`;
  let extra = '';
  let i = 0;
  while (i < body.length) {
    let lo: string;
    if (body[i] === '\\') {
      const n = escapeLength(body, i);
      i += n;
      continue; // escapes (\d, \w, \x41 …) are left alone
    }
    lo = body[i];
    if (body[i + 1] === '-' && i + 2 < body.length && body[i + 2] !== '\\') {
      const hi = body[i + 2];
      extra += foldRange(lo.charCodeAt(0), hi.charCodeAt(0));
      i += 3;
      continue;
    }
    if (isLetter(lo)) {
      const both = bothCases(lo);
      if (both.length === 2) extra += both[both[0] === lo ? 1 : 0];
    }
    i++;
  }
  return `[${neg ? '^' : ''}${body}${extra}]`;
}

function foldRange(a: number, b: number): string {
  let out = '';
  // lower-case part → upper-case range, and the reverse
  const lo1 = Math.max(a, 97);
  const hi1 = Math.min(b, 122);
  if (lo1 <= hi1) out += `${String.fromCharCode(lo1 - 32)}-${String.fromCharCode(hi1 - 32)}`;
  const lo2 = Math.max(a, 65);
  const hi2 = Math.min(b, 90);
  if (lo2 <= hi2) out += `${String.fromCharCode(lo2 + 32)}-${String.fromCharCode(hi2 + 32)}`;
  return out;
}
