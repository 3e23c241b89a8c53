import { expandConditionals, PyRegexError, pyToJs } from '../../shared/fail2ban/pyre.js';
import { enableLinearRegexpEngine } from '../../shared/patterns/regexp-engine.js';
import { expandTags } from './tags.js';

/** One fail2ban regex made runnable in JavaScript. */
export interface CompiledRegex {
  /** Position in its list (failregex / ignoreregex), 0-based as fail2ban-regex counts from 1. */
  index: number;
  /** As the filter wrote it (after option substitution, before tags). */
  original: string;
  variants: { re: RegExp; require: Record<string, boolean> }[];
  /** Why it needs the backtracking engine (empty: it runs on V8's linear-time engine). */
  backtracking: string[];
  /** `alt_x` / `alt_x_2` groups → the group they fill when it is empty (fail2ban's ALT_ names). */
  alt: [string, string][];
}

/** A regex that could not be made runnable, with the reason. */
export interface RegexProblem {
  list: 'prefregex' | 'failregex' | 'ignoreregex';
  index: number;
  regex: string;
  reason: string;
}

/** V8's linear-time engine takes the regex (no backreference, lookaround or too deep a count). */
export function linearOk(source: string, flags: string): boolean {
  enableLinearRegexpEngine();
  try {
    new RegExp(source, `${flags}l`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tags → Python regex → JS RegExp (one per conditional variant). Throws PyRegexError (or the
 * RegExp SyntaxError message as one) when the regex has no JS form.
 */
export function compileRegex(
  original: string,
  index: number,
  multiline: boolean,
  useDns = true,
): CompiledRegex {
  const expanded = expandTags(original, 'fail2ban', useDns);
  if (expanded.source.trim() === '') throw new PyRegexError('empty regex');
  const variants = expandConditionals(expanded.source);
  const flags = multiline ? 'm' : '';
  const back = new Set<string>();
  if (variants.length > 1) back.add('conditional group (run as variants)');
  const out: CompiledRegex['variants'] = [];
  for (const v of variants) {
    const js = pyToJs(v.source);
    for (const b of js.backtracking) back.add(b);
    let re: RegExp;
    try {
      re = new RegExp(js.source, flags);
    } catch (err) {
      throw new PyRegexError(`JavaScript rejects it: ${(err as Error).message}`);
    }
    if (js.backtracking.length === 0 && !linearOk(js.source, flags)) back.add('nested counted repetition');
    out.push({ re, require: v.require });
  }
  const alt: [string, string][] = [];
  for (const m of expanded.source.matchAll(/\(\?P<(alt_[A-Za-z0-9_]*)>/g)) {
    const n = /^alt_(.*?)(?:_\d+)?$/.exec(m[1]) as RegExpExecArray;
    alt.push([m[1], n[1] === 'id' ? 'fid' : n[1] === 'port' ? 'fport' : n[1]]);
  }
  alt.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { index, original, variants: out, backtracking: [...back], alt };
}

/** The first variant's match that meets its conditions, or null. */
export function execRegex(r: CompiledRegex, text: string): RegExpExecArray | null {
  for (const v of r.variants) {
    const m = v.re.exec(text);
    if (m === null) continue;
    let ok = true;
    for (const name in v.require) {
      if ((m.groups?.[name] !== undefined) !== v.require[name]) {
        ok = false;
        break;
      }
    }
    if (ok) return m;
  }
  return null;
}
