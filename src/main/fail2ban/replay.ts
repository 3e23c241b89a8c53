import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Fail2banFilter } from './engine.js';
import type { FilterDef } from './filter.js';

export interface FilterReplayOptions {
  files: string[];
  filter: FilterDef;
  /** Would-be bans: this many failures of one host within `findtime` seconds. */
  maxretry: number;
  findtime: number;
  /** Keep every line of each kind (otherwise the first 100). */
  keepAll: { matched: boolean; missed: boolean; ignored: boolean };
  /** Keep per-line verdicts (for --json), at most this many. */
  perLine: number;
  maxLineLength?: number;
  stdin?: Readable;
}

export interface LineRecord {
  file: string;
  line: number;
  verdict: 'matched' | 'ignored' | 'missed';
  /** 1-based failregex (matched) or ignoreregex / failregex (ignored) number, 0 when none. */
  regex: number;
  host: string | null;
}

export interface FilterReplaySummary {
  filter: string;
  files: string[];
  lines: number;
  matched: number;
  ignored: number;
  missed: number;
  truncated: number;
  failregex: { regex: string; hits: number; backtracking: string[] }[];
  ignoreregex: { regex: string; hits: number }[];
  prefregex: { regex: string; hits: number } | null;
  problems: { list: string; index: number; regex: string; reason: string }[];
  dates: { template: string; hits: number }[];
  examples: { matched: string[]; ignored: string[]; missed: string[] };
  records: LineRecord[];
  bans: { host: string; atMs: number | null; failures: number }[];
  elapsedMs: number;
}

/** Lines kept per kind unless --print-all-… asks for all. */
const EXAMPLES = 100;

/**
 * fail2ban-regex with edgeban's engine: every line of the logs (comments and empty lines skipped,
 * as fail2ban-regex does) through one fail2ban filter, counted per regex and per verdict, with
 * the bans the jail's maxretry / findtime would have made.
 */
export async function replayFilter(o: FilterReplayOptions): Promise<FilterReplaySummary> {
  const t0 = performance.now();
  const f = new Fail2banFilter(o.filter);
  const maxLen = o.maxLineLength ?? 8192;
  const s: FilterReplaySummary = {
    filter: o.filter.name,
    files: o.files,
    lines: 0,
    matched: 0,
    ignored: 0,
    missed: 0,
    truncated: 0,
    failregex: f.fail.map((r) => ({ regex: r.original, hits: 0, backtracking: r.backtracking })),
    ignoreregex: f.ignore.map((r) => ({ regex: r.original, hits: 0 })),
    prefregex: o.filter.prefregex === null ? null : { regex: o.filter.prefregex, hits: 0 },
    problems: f.problems,
    dates: [],
    examples: { matched: [], ignored: [], missed: [] },
    records: [],
    bans: [],
    elapsedMs: 0,
  };
  const failIdx = new Map(f.fail.map((r, i) => [r.index, i]));
  const ignIdx = new Map(f.ignore.map((r, i) => [r.index, i]));
  const dates = new Map<string, number>();
  const recent = new Map<string, number[]>();
  for (const file of o.files) {
    const input = file === '-' ? (o.stdin ?? process.stdin) : createReadStream(file);
    const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    let n = 0;
    for await (const raw of rl) {
      n++;
      let line = raw;
      if (line.startsWith('#') || line.trim() === '') continue;
      if (line.length > maxLen) {
        line = line.slice(0, maxLen);
        s.truncated++;
      }
      s.lines++;
      const v = f.processLine(line);
      if (v.dateTemplate !== null) {
        const name = v.dateTemplate;
        if (dates.size < 64 || dates.has(name)) dates.set(name, (dates.get(name) ?? 0) + 1);
      }
      // a failure that waits for its session's address matched its regex: fail2ban-regex counts
      // it matched (no host, so no ban)
      const verdict = v.pending ? 'matched' : v.verdict;
      if (verdict === 'matched') s.failregex[failIdx.get(v.regex) ?? 0].hits++;
      if (verdict === 'ignored') s.ignoreregex[ignIdx.get(v.regex) ?? 0].hits++;
      s[verdict]++;
      const ex = s.examples[verdict];
      if (o.keepAll[verdict] || ex.length < EXAMPLES) ex.push(line);
      if (s.records.length < o.perLine) {
        const decided = verdict === 'missed' && !v.nofail ? 0 : v.regex + 1;
        s.records.push({ file, line: n, verdict, regex: decided, host: v.host });
      }
      if (verdict === 'matched' && v.host !== null) countFailure(s, recent, v.host, v.timeMs, o);
    }
  }
  s.dates = [...dates].map(([template, hits]) => ({ template, hits })).sort((a, b) => b.hits - a.hits);
  if (s.prefregex !== null) s.prefregex.hits = s.matched + s.ignored;
  s.elapsedMs = performance.now() - t0;
  return s;
}

/** fail2ban's counting: maxretry failures within findtime → ban, the count starts again. */
function countFailure(
  s: FilterReplaySummary,
  recent: Map<string, number[]>,
  host: string,
  timeMs: number | null,
  o: FilterReplayOptions,
): void {
  const t = timeMs ?? 0;
  let list = recent.get(host);
  if (list === undefined) {
    // hostile logs can name millions of hosts: forget the oldest beyond a bound
    if (recent.size >= 100_000) recent.delete(recent.keys().next().value as string);
    list = [];
    recent.set(host, list);
  }
  list.push(t);
  while (list.length > 0 && t - list[0] > o.findtime * 1000) list.shift();
  if (list.length >= o.maxretry) {
    s.bans.push({ host, atMs: timeMs, failures: list.length });
    recent.delete(host);
  }
}
