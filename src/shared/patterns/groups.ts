import { PatternError } from './errors.js';

/**
 * Number of the capture group called `name` in `regex` (the table's `ip_group` is an integer):
 * counts the capturing groups that open before it; null when there is none.
 */
export function namedGroupIndex(regex: string, name: string): number | null {
  let n = 0;
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c !== '(') continue;
    if (regex[i + 1] !== '?') {
      n++;
      continue;
    }
    const m = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(regex.slice(i, i + 40 + name.length));
    if (m) {
      n++;
      if (m[1] === name) return n;
    }
  }
  return null;
}

/** namedGroupIndex, or a PatternError naming the pattern when the regex has no such group. */
export function ipGroupIndex(patternName: string, regex: string, name: string): number {
  const n = namedGroupIndex(regex, name);
  if (n === null) throw new PatternError(patternName, `ip_group "${name}" is not a named group of the regex`);
  return n;
}
