import { PatternError } from './errors.js';

/** `(?<name>` / `(?P<name>` at the start (a JavaScript group name). */
const NAMED_OPEN = /^\(\?P?<([$_\p{ID_Start}](?:[$\p{ID_Continue}]|\u200C|\u200D)*)>/u;
/** `\k<name>` at the start. */
const BACKREF = /^\\k<([$_\p{ID_Start}](?:[$\p{ID_Continue}]|\u200C|\u200D)*)>/u;

/**
 * Number of the capture group called `name` in `regex` (the table's `ip_group` is an integer):
 * counts the capturing groups that open before it; null when there is none.
 */
export function namedGroupIndex(regex: string, name: string): number | null {
  return scanGroups(regex).index.get(name) ?? null;
}

/** namedGroupIndex, or a PatternError naming the pattern when the regex has no such group. */
export function ipGroupIndex(patternName: string, regex: string, name: string): number {
  const n = namedGroupIndex(regex, name);
  if (n === null) throw new PatternError(patternName, `ip_group "${name}" is not a named group of the regex`);
  return n;
}

/**
 * The regex with its groups' names dropped (`(?<ip>…)` → `(…)`, `\k<ip>` → `(?:\N)`), numbered
 * as before, and each name's number. A match of it builds no `groups` object: the matcher reads
 * its captures by number. Null when a name cannot be dropped (a backreference to a group not yet
 * opened).
 */
export function unnamedSource(regex: string): { source: string; index: Map<string, number> } | null {
  const g = scanGroups(regex);
  return g.source === null ? null : { source: g.source, index: g.index };
}

/**
 * One pass over a regex (JavaScript or Python syntax): each group name's number (the first group
 * of that name), and the source without the names (null when a backreference by name points past
 * the groups opened so far).
 */
function scanGroups(regex: string): { source: string | null; index: Map<string, number> } {
  let out: string | null = '';
  let n = 0;
  let inClass = false;
  const index = new Map<string, number>();
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\') {
      const k = inClass ? null : BACKREF.exec(regex.slice(i, i + 200));
      if (k !== null) {
        const at = index.get(k[1]);
        if (out !== null) out = at === undefined ? null : `${out}(?:\\${at})`;
        i += k[0].length - 1;
        continue;
      }
      if (out !== null) out += regex.slice(i, i + 2);
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '(') {
      if (regex[i + 1] !== '?') n++;
      else {
        const m = NAMED_OPEN.exec(regex.slice(i, i + 200));
        if (m !== null) {
          n++;
          if (!index.has(m[1])) index.set(m[1], n);
          if (out !== null) out += '(';
          i += m[0].length - 1;
          continue;
        }
      }
    }
    if (out !== null) out += c;
  }
  return { source: out, index };
}
