/**
 * Checks the Markdown of README.md and docs/*.md: every relative link points at a file that
 * exists, every `#anchor` matches a heading of its page under GitHub's slug rules, and every page
 * of docs/ is reachable from README.md. Links inside code (fenced blocks, inline spans) are text.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface LinkProblem {
  file: string;
  line: number;
  target: string;
  problem: string;
}

/** GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens, -1, -2… on repeats. */
export function slugs(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text } of lines(markdown)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!m) continue;
    const plain = m[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link keeps its text
      .replace(/<[^>]+>/g, '');
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Lines outside fenced code blocks, with their numbers. */
function lines(markdown: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fence: string | null = null;
  markdown.split('\n').forEach((text, i) => {
    const f = /^\s*(```+|~~~+)/.exec(text);
    if (f) {
      if (fence === null) fence = f[1][0];
      else if (f[1][0] === fence) fence = null;
      return;
    }
    if (fence === null) out.push({ text, line: i + 1 });
  });
  return out;
}

/** The link targets of a page: inline `[text](target)` and reference `[name]: target`. */
export function links(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  for (const { text, line } of lines(markdown)) {
    const prose = text.replace(/(`+)[^`]*?\1/g, (s) => ' '.repeat(s.length)); // inline code is text
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ target: m[1], line });
    const ref = /^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose);
    if (ref) out.push({ target: ref[1], line });
  }
  return out;
}

/** README.md and docs/*.md of `root`, as paths relative to it. */
export function pages(root: string): string[] {
  const docs = join(root, 'docs');
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => join('docs', f))
    : [];
  return ['README.md', ...inDocs];
}

export function checkLinks(root: string): LinkProblem[] {
  const problems: LinkProblem[] = [];
  const slugCache = new Map<string, Set<string>>();
  const slugsOf = (abs: string) => {
    let s = slugCache.get(abs);
    if (!s) {
      s = slugs(readFileSync(abs, 'utf8'));
      slugCache.set(abs, s);
    }
    return s;
  };
  const linkedFrom = new Map<string, Set<string>>();
  const all = pages(root);
  for (const page of all) {
    const abs = join(root, page);
    for (const { target, line } of links(readFileSync(abs, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // absolute URL
      const hash = target.indexOf('#');
      const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
      const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
      if (pathPart.startsWith('/')) {
        problems.push({ file: page, line, target, problem: 'absolute path: links must be relative' });
        continue;
      }
      const dest = pathPart === '' ? abs : resolve(dirname(abs), pathPart);
      if (!existsSync(dest)) {
        problems.push({ file: page, line, target, problem: `no such file: ${relative(root, dest)}` });
        continue;
      }
      const destRel = relative(root, dest);
      if (destRel !== page) {
        const from = linkedFrom.get(destRel) ?? new Set<string>();
        from.add(page);
        linkedFrom.set(destRel, from);
      }
      if (anchor !== null && dest.endsWith('.md') && !slugsOf(dest).has(anchor))
        problems.push({ file: page, line, target, problem: `no heading #${anchor} in ${destRel}` });
    }
  }
  // every page of docs/ must be reachable from the README, following links between pages
  const reached = new Set(['README.md']);
  const queue = ['README.md'];
  while (queue.length > 0) {
    const from = queue.shift() as string;
    for (const [to, sources] of linkedFrom) {
      if (sources.has(from) && !reached.has(to)) {
        reached.add(to);
        queue.push(to);
      }
    }
  }
  for (const page of all)
    if (!reached.has(page))
      problems.push({
        file: page,
        line: 1,
        target: page,
        problem: 'not linked from README.md, nor from a page linked from it',
      });
  return problems;
}
