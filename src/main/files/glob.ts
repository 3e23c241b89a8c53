import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const MAGIC = /[*?[]/;

export function isGlob(path: string): boolean {
  return MAGIC.test(path);
}

/** One path segment's glob as an anchored regex: `*` and `?` stay within the segment. */
function segmentRegex(seg: string): RegExp {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        let set = seg.slice(i + 1, close).replace(/\\/g, '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        out += `[${set}]`;
        i = close;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/**
 * The regular files an absolute glob names now (a path without wildcards: itself), sorted, at most `max` (and whether more matched).
 * Hidden entries match only a segment that starts with a dot, as in a shell. Unreadable folders
 * are skipped: a glob names what can be listed.
 */
export function expandGlob(pattern: string, max: number): { files: string[]; more: boolean } {
  // a plain path is named whatever it is now: missing (followed once it appears) or unreadable (said)
  if (!isGlob(pattern)) return { files: [pattern], more: false };
  const segs = pattern.split('/').filter((s) => s !== '');
  let dirs = ['/'];
  for (let k = 0; k < segs.length; k++) {
    const seg = segs[k];
    const last = k === segs.length - 1;
    const next: string[] = [];
    if (!isGlob(seg)) {
      for (const d of dirs) next.push(join(d, seg));
    } else {
      const re = segmentRegex(seg);
      for (const d of dirs) {
        let names: string[];
        try {
          names = readdirSync(d);
        } catch {
          continue;
        }
        names.sort();
        for (const n of names) if ((n[0] !== '.' || seg[0] === '.') && re.test(n)) next.push(join(d, n));
        // a folder level that fans out without bound is cut like the files are
        if (next.length > max * 4) break;
      }
    }
    dirs = last ? next : next.filter(isDir);
  }
  const files = dirs.filter(isFile);
  return { files: files.slice(0, max), more: files.length > max };
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
