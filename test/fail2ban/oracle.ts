import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** fail2ban's own test corpus (Debian's fail2ban package). */
export const SAMPLES_DIR = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
export const FAIL2BAN_DIR = '/etc/fail2ban';

/**
 * The Python conditions the corpus uses (`name == 'sshd'`, `opts.get('mode') != 'aggressive'`),
 * evaluated; anything else answers null (the line is then skipped, not guessed).
 */
export function evalCondition(expr: string, name: string, opts: Record<string, string>): boolean | null {
  const m = /^\s*(name|opts\.get\('([\w.-]+)'\))\s*(==|!=)\s*'([^']*)'\s*$/.exec(expr);
  if (m === null) return null;
  const left = m[1] === 'name' ? name : (opts[m[2]] ?? null);
  return m[3] === '==' ? left === m[4] : left !== m[4];
}

/** One annotated line of a sample log and the filter options it is checked with. */
export interface Annotated {
  file: string;
  lineNo: number;
  line: string;
  /** Index into `optionSets` of the block this line belongs to. */
  block: number;
  expect: { match: boolean; host?: string; time?: string; [k: string]: unknown };
}

export interface SampleLog {
  filter: string;
  /** Option sets of each `# filterOptions:` block ([{}] before any). */
  optionSets: Record<string, string>[][];
  lines: Annotated[];
  /** Annotated lines not checked: their Python condition is false or not understood. */
  skipped: number;
}

/**
 * Reads a sample log as fail2ban's own samples test does: `# failJSON: {…}` annotates the
 * next line, `# filterOptions: {…}|[…]` starts a block checked with those options (merged over
 * `# fileOptions:`), `# addFILE: "name"` appends another log. A block whose `test.condition` is
 * false is skipped; a line's `constraint` is left to the caller (per option set).
 */
export function readSampleLog(filter: string): SampleLog {
  const files = [filter];
  const optionSets: Record<string, string>[][] = [[{}]];
  const lines: Annotated[] = [];
  let skipped = 0;
  for (let f = 0; f < files.length; f++) {
    const path = join(SAMPLES_DIR, files[f]);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8').split('\n');
    let common: Record<string, string> = {};
    let block = optionSets.length - 1;
    let ignoreBlock = false;
    let pending: Annotated['expect'] | null = null;
    for (let n = 0; n < text.length; n++) {
      const line = text[n];
      const j = /^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$/.exec(line);
      if (j) {
        const data = JSON.parse(j[2]) as unknown;
        if (j[1] === 'fileOptions') common = data as Record<string, string>;
        else if (j[1] === 'filterOptions') {
          const sets = (Array.isArray(data) ? data : [data]) as Record<string, string>[];
          const merged = sets.map((s) => ({ ...common, ...s }));
          const kept = merged.filter((s) => {
            const c = s['test.condition'];
            return c === undefined || evalCondition(c, filter, s) === true;
          });
          ignoreBlock = kept.length === 0;
          optionSets.push(kept);
          block = optionSets.length - 1;
        } else if (j[1] === 'addFILE') files.push(data as string);
        else pending = data as Annotated['expect'];
        continue;
      }
      if (pending === null) continue;
      if (ignoreBlock) skipped++;
      else
        lines.push({ file: files[f], lineNo: n + 1, line: line.replace(/\r$/, ''), block, expect: pending });
      pending = null;
    }
  }
  return { filter, optionSets, lines, skipped };
}
