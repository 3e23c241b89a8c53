import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFilter } from './filter.js';
import { readJails } from './jails.js';
import { type FilterReplaySummary, replayFilter } from './replay.js';

export const FAIL2BAN_REPLAY_USAGE = `fail2ban filters (as fail2ban-regex):
  edgeban replay [options] LOG… FILTER
                         FILTER is a filter file (…/filter.d/sshd.conf) or a filter name
                         (sshd, sshd[mode=aggressive]) resolved in the fail2ban tree; the
                         lines go through fail2ban's semantics (date cut out, prefregex,
                         failregex, ignoreregex, <F-MLFID> sessions, maxlines)
  --fail2ban DIR         the fail2ban tree (default /etc/fail2ban)
  --print-all-matched    every matched line (default: the first 100)
  --print-all-missed     every missed line
  --print-all-ignored    every line an ignoreregex dropped
                         (verdicts as fail2ban's server and fail2ban-regex --no-check-all:
                         the first failregex that matches decides; <F-NOFAIL> context lines
                         and lines still waiting for their session's address are missed)
  --max-attempts N       would-be bans: failures of one host (default: the maxretry of the
  --time-window DUR      jail using FILTER, else [DEFAULT]'s, else 5 within 10m)
  --json                 the summary, with one verdict per input line: line number,
                         verdict (matched / ignored / missed), the regex that decided
                         (1-based, 0 none) and the captured host
`;

export interface Fail2banReplayArgs {
  files: string[];
  dir: string;
  printAll: { matched: boolean; missed: boolean; ignored: boolean };
  maxAttempts: number | null;
  timeWindowMs: number | null;
  json: boolean;
}

/** Is `arg` a fail2ban filter (a filter file, or a name in DIR/filter.d) rather than a log? */
export function isFilterArg(arg: string, dir: string): boolean {
  if (/\.(conf|local)$/.test(arg) && existsSync(arg)) return true;
  const name = arg.replace(/\[.*\]$/s, '');
  if (name.includes('/')) return false;
  return (
    existsSync(join(dir, 'filter.d', `${name}.conf`)) || existsSync(join(dir, 'filter.d', `${name}.local`))
  );
}

/** maxretry / findtime of the first jail using the filter, or of [DEFAULT]. */
function jailPolicy(
  dir: string,
  filter: string,
): { maxretry: number; findtime: number; jail: string | null } {
  try {
    const jails = readJails(dir);
    const base = filter
      .replace(/\[.*\]$/s, '')
      .replace(/^.*\//, '')
      .replace(/\.(conf|local)$/, '');
    const j =
      jails.find((x) => x.enabled && x.filter.replace(/\[.*\]$/s, '') === base) ??
      jails.find((x) => x.filter.replace(/\[.*\]$/s, '') === base);
    if (j) return { maxretry: j.maxretry, findtime: j.findtime, jail: j.name };
  } catch {
    // no jail files: fail2ban's defaults
  }
  return { maxretry: 5, findtime: 600, jail: null };
}

/** `edgeban replay LOG… FILTER`: prints the summary, returns the exit code. */
export async function fail2banReplay(
  a: Fail2banReplayArgs,
  filterSpec: string,
  out: NodeJS.WritableStream,
): Promise<number> {
  const def = readFilter(a.dir, filterSpec);
  const policy = jailPolicy(a.dir, filterSpec);
  const maxretry = a.maxAttempts ?? policy.maxretry;
  const findtime = a.timeWindowMs !== null ? a.timeWindowMs / 1000 : policy.findtime;
  const s = await replayFilter({
    files: a.files,
    filter: def,
    maxretry,
    findtime,
    keepAll: a.printAll,
    perLine: a.json ? 1_000_000 : 0,
  });
  const source = a.maxAttempts !== null || a.timeWindowMs !== null ? 'options' : (policy.jail ?? '[DEFAULT]');
  const text = a.json
    ? `${JSON.stringify(toJson(s, maxretry, findtime), null, 2)}\n`
    : format(s, a, maxretry, findtime, source);
  // the CLI exits right after: a large report must have left the process by then
  await new Promise<void>((resolve) => out.write(text, () => resolve()));
  return 0;
}

function toJson(s: FilterReplaySummary, maxretry: number, findtime: number) {
  return {
    filter: s.filter,
    files: s.files,
    lines: s.lines,
    matched: s.matched,
    ignored: s.ignored,
    missed: s.missed,
    truncated: s.truncated,
    prefregex: s.prefregex,
    failregex: s.failregex,
    ignoreregex: s.ignoreregex,
    not_translated: s.problems,
    date_templates: s.dates,
    policy: { maxretry, findtime_seconds: findtime },
    bans: s.bans.map((b) => ({
      host: b.host,
      at: b.atMs === null ? null : new Date(b.atMs).toISOString(),
      failures: b.failures,
    })),
    per_line: s.records,
    elapsed_ms: Math.round(s.elapsedMs),
  };
}

function format(
  s: FilterReplaySummary,
  a: Fail2banReplayArgs,
  maxretry: number,
  findtime: number,
  source: string,
) {
  const p: string[] = [];
  p.push('Running tests', '=============', '');
  p.push(`Use   failregex filter : ${s.filter}, basedir: ${a.dir}`);
  for (const f of s.files) p.push(`Use         log file : ${f}`);
  p.push('', 'Results', '=======', '');
  if (s.prefregex !== null)
    p.push(`Prefregex: ${s.prefregex.hits} total`, `|  ${s.prefregex.regex}`, '`-', '');
  p.push(`Failregex: ${s.failregex.reduce((x, r) => x + r.hits, 0)} total`);
  p.push('|-  #) [# of hits] regular expression');
  s.failregex.forEach((r, i) => {
    const mark = r.backtracking.length > 0 ? `   (backtracking: ${r.backtracking.join(', ')})` : '';
    if (r.hits > 0 || a.printAll.matched)
      p.push(`|  ${String(i + 1).padStart(2)}) [${r.hits}] ${r.regex}${mark}`);
  });
  p.push('`-', '');
  p.push(`Ignoreregex: ${s.ignoreregex.reduce((x, r) => x + r.hits, 0)} total`);
  s.ignoreregex.forEach((r, i) => {
    if (r.hits > 0) p.push(`|  ${String(i + 1).padStart(2)}) [${r.hits}] ${r.regex}`);
  });
  p.push('`-', '');
  if (s.problems.length > 0) {
    p.push(`Not translated or quarantined: ${s.problems.length}`);
    for (const x of s.problems) p.push(`|  ${x.list} ${x.index + 1}: ${x.reason}`, `|     ${x.regex}`);
    p.push('`-', '');
  }
  p.push('Date template hits:', '|- [# of hits] date format');
  for (const d of s.dates) p.push(`|  [${d.hits}] ${d.template}`);
  p.push('`-', '');
  p.push(`Lines: ${s.lines} lines, ${s.ignored} ignored, ${s.matched} matched, ${s.missed} missed`);
  if (s.truncated > 0) p.push(`Truncated: ${s.truncated} over-long lines were cut`);
  p.push('');
  p.push(`Would-be bans (maxretry ${maxretry} within ${findtime}s, from ${source}): ${s.bans.length}`);
  for (const b of s.bans) {
    p.push(
      `|  ${b.host} at ${b.atMs === null ? 'unknown time' : new Date(b.atMs).toISOString()} (${b.failures} failures)`,
    );
  }
  p.push('`-');
  for (const kind of ['matched', 'ignored', 'missed'] as const) {
    const show = a.printAll[kind] || (kind === 'missed' && s.missed > 0 && s.missed <= 20);
    if (!show) continue;
    const list = s.examples[kind];
    p.push(
      '',
      `${kind[0].toUpperCase()}${kind.slice(1)} line(s): ${list.length}${list.length < s[kind] ? ` of ${s[kind]}` : ''}`,
    );
    for (const l of list) p.push(`|  ${l}`);
    p.push('`-');
  }
  return `${p.join('\n')}\n`;
}
