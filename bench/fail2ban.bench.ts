/**
 * fail2ban filters in edgeban: (1) fail2ban's own semantics (`edgeban replay LOG FILTER`, the
 * Fail2banFilter engine) against the real `fail2ban-regex --no-check-all` on the same sample log
 * in the same run, per filter; (2) every importable Debian filter as edgeban patterns in one
 * pattern set, the matcher (BatchMatcher, in-thread) over a mixed corpus of fail2ban's sample
 * lines (1M), with the literal prefilter and without, against fail2ban-regex running the same filters.
 *
 * `npm run bench fail2ban` (200k-line per-filter corpora, 1M mixed) or `-- --quick` (50k, 100k).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Fail2banFilter } from '../src/main/fail2ban/engine.js';
import { readFilter } from '../src/main/fail2ban/filter.js';
import { filterPatterns } from '../src/main/fail2ban/import.js';
import { logRoutes } from '../src/main/ingest/routes.js';
import { BatchMatcher } from '../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../src/shared/patterns/compile.js';
import type { MatchTask } from '../src/shared/patterns/protocol.js';
import { filtersWithSamples } from '../test/fail2ban/parity.js';
import { jail } from '../test/helpers/jails.js';
import type { BenchReport, BenchRow } from './run.js';

const exec = promisify(execFile);
const SAMPLES = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const FILTERS = ['sshd', 'dovecot', 'postfix', 'nginx-http-auth', 'apache-auth', 'exim'];
const REPEATS = 5;
/** Lines per batch, as `syslog.batch_size` cuts them by default. */
const BATCH = 512;

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** The sample's log lines (no comments, no blanks), repeated to about `n` lines. */
function corpus(filter: string, n: number): string[] {
  const lines = readFileSync(join(SAMPLES, filter), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const out: string[] = [];
  while (out.length < n && lines.length > 0) out.push(...lines);
  return out.slice(0, n);
}

/** CPU seconds of a fail2ban-regex run and its Lines: summary. */
async function fail2banRegex(
  log: string,
  filter: string,
): Promise<{ cpuUs: number; counts: number[] } | null> {
  const r = await exec(
    '/usr/bin/time',
    ['-f', 'TIME %U %S', 'fail2ban-regex', '--no-check-all', log, filter],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const t = /TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const m = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/.exec(r.stdout);
  if (!t || !m) return null;
  return { cpuUs: (Number(t[1]) + Number(t[2])) * 1e6, counts: m.slice(1, 5).map(Number) };
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const n = quick ? 50_000 : 200_000;
  const mixedN = quick ? 100_000 : 1_000_000;
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-f2b-'));
  try {
    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    for (const f of FILTERS) {
      const lines = corpus(f, n);
      const log = join(dir, `${f}.log`);
      writeFileSync(log, `${lines.join('\n')}\n`);
      const samples: number[] = [];
      let counts = [0, 0, 0, 0];
      for (let r = 0; r < REPEATS; r++) {
        const filter = new Fail2banFilter(readFilter('/etc/fail2ban', f));
        const c = [lines.length, 0, 0, 0];
        const t0 = cpuUs();
        for (const l of lines) {
          const v = filter.processLine(l);
          c[v.verdict === 'ignored' ? 1 : v.verdict === 'matched' ? 2 : 3]++;
        }
        samples.push((cpuUs() - t0) / lines.length);
        counts = c;
      }
      const ours = median(samples);
      const row: BenchRow = {
        name: `fail2ban semantics, filter ${f}, ${lines.length} sample lines (Fail2banFilter)`,
        value: ours,
        unit: 'CPU-µs/line',
        stat: `median of ${REPEATS}`,
      };
      const conf = `/etc/fail2ban/filter.d/${f}.conf`;
      const [start, theirs] = [await fail2banRegex(empty, conf), await fail2banRegex(log, conf)];
      if (start && theirs) {
        // its start-up (reading the filter, compiling) is not per-line cost
        const f2bUs = (theirs.cpuUs - start.cpuUs) / lines.length;
        row.baseline = { name: 'fail2ban-regex --no-check-all, same file', value: f2bUs };
        row.notes = `${(f2bUs / ours).toFixed(0)}× cheaper than fail2ban-regex (${f2bUs.toFixed(1)} CPU-µs/line); lines/ignored/matched/missed ${counts.join('/')}`;
        // sshd: fail2ban-regex counts session lines still waiting for an address as matched and
        // drops unresolvable host names, so only the line total is compared there
        const same = f === 'sshd' ? theirs.counts[0] === counts[0] : theirs.counts.join() === counts.join();
        row.verified = same;
        row.verification = same
          ? `fail2ban-regex counts ${theirs.counts.join('/')}`
          : `fail2ban-regex counts ${theirs.counts.join('/')} differ from ${counts.join('/')}`;
      } else row.notes = 'fail2ban-regex did not run';
      rows.push(row);
    }

    // every importable filter as edgeban patterns, one set, mixed corpus
    const specs: PatternSpec[] = [];
    const importedFilters: string[] = [];
    const specsOf = new Map<string, PatternSpec[]>();
    for (const f of filtersWithSamples()) {
      try {
        const made = filterPatterns(readFilter('/etc/fail2ban', f), `f2b-${f}`);
        specs.push(...made.patterns);
        if (made.patterns.length > 0) importedFilters.push(f);
        specsOf.set(f, made.patterns);
      } catch {
        // a filter that does not read is reported by import-fail2ban, not measured here
      }
    }
    // first, while the mixed corpus is not in memory yet: its million strings would be the
    // collector's to walk in the jails' run too
    const jailsRun = asJails(importedFilters, specs, specsOf, mixedN);
    const mixed: string[] = [];
    const sources = filtersWithSamples().map((f) => corpus(f, 2000));
    for (let i = 0; mixed.length < mixedN; i++) {
      const src = sources[i % sources.length];
      mixed.push(src[(i / sources.length) | 0] ?? src[i % src.length]);
    }
    const buf = new TextEncoder().encode(`${mixed.join('\n')}\n`);
    const payload = JSON.stringify({ version: 1, specs, skip: [] });
    const task: MatchTask = {
      version: 1,
      patterns: payload,
      buf,
      count: mixed.length,
      timeMs: Date.now(),
      lineTime: false,
      maxLen: 8192,
      budgetMs: 1e9,
    };
    const on = new BatchMatcher();
    const off = new BatchMatcher();
    // version 2: its regexes' sources differ from version 1's (compilePattern), so the two sets
    // share no compiled code, as consecutive versions in a worker do not
    const offPayload = JSON.stringify({ version: 2, specs, skip: [] });
    off.matcherFor(2, offPayload).usePrefilter = false;
    const filtered = on.matcherFor(1, payload).prefiltered;
    const samples: number[] = [];
    let matches = 0;
    for (let r = 0; r < REPEATS; r++) {
      const t0 = cpuUs();
      const res = on.run(task);
      samples.push((cpuUs() - t0) / mixed.length);
      matches = res.matches;
    }
    // without the prefilter a pass costs tens of seconds: once, for the count and the ratio
    const t0 = cpuUs();
    const plain = off.run({ ...task, version: 2, patterns: offPayload });
    const offUs = (cpuUs() - t0) / mixed.length;
    const ours = median(samples);

    // fail2ban-regex runs one filter per process: every jail's filter reads every line, so its
    // per-line cost with all filters loaded is the sum over the filters, on a slice of the corpus
    const slice = join(dir, 'mixed-slice.log');
    const sliceN = quick ? 1000 : 4000;
    writeFileSync(slice, `${mixed.slice(0, sliceN).join('\n')}\n`);
    let f2bUs = 0;
    let f2bRan = 0;
    const startUs = new Map<string, number>();
    for (const f of importedFilters) {
      const conf = `/etc/fail2ban/filter.d/${f}.conf`;
      try {
        const [a, b] = [await fail2banRegex(empty, conf), await fail2banRegex(slice, conf)];
        if (a === null || b === null) continue;
        startUs.set(f, a.cpuUs);
        f2bUs += Math.max(0, b.cpuUs - a.cpuUs) / sliceN;
        f2bRan++;
      } catch {
        // a filter fail2ban-regex itself refuses is left out of its sum (and said so below)
      }
    }
    const load = loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    rows.push({
      name: `${specs.length} patterns from ${importedFilters.length} Debian filters, mixed ${mixed.length}-line corpus, literal prefilter (BatchMatcher)`,
      value: ours,
      unit: 'CPU-µs/line',
      stat: `median of ${REPEATS}`,
      target: '≤ 1',
      baseline: { name: 'same set, prefilter off, one pass', value: offUs },
      verified: plain.matches === matches,
      verification:
        plain.matches === matches
          ? `${matches} lines matched with the prefilter and without`
          : `${matches} lines matched with the prefilter, ${plain.matches} without`,
      notes: `${filtered} of ${specs.length} patterns filtered; ${(offUs / ours).toFixed(1)}× cheaper than without; load ${load}; each imported pattern sees the line without its date (its filter's datepattern), as fail2ban does`,
    });
    if (f2bRan > 0)
      rows.push({
        name: `fail2ban-regex --no-check-all, the same ${f2bRan} filters, sum of per-filter cost on a ${sliceN}-line slice of the mixed corpus`,
        value: f2bUs,
        unit: 'CPU-µs/line',
        stat: 'one run per filter, start-up (empty log) subtracted',
        notes: `edgeban with all of them loaded is ${(f2bUs / ours).toFixed(0)}× cheaper per line (target ≥ 50×)${f2bRan < importedFilters.length ? `; ${importedFilters.length - f2bRan} filters did not run in fail2ban-regex` : ''}`,
      });
    rows.push(...(await againstFail2ban(jailsRun, dir, startUs, quick)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    bench: 'fail2ban',
    rows,
    params: { lines: n, mixedLines: mixedN, repeats: REPEATS, filters: FILTERS },
  };
}

/**
 * The same filters as fail2ban runs them on most machines: one jail each, reading its own log
 * (`logpath`). Each line is read by its jail's patterns alone (routes.ts), in batches of BATCH
 * lines of one file, the files' batches interleaved; fail2ban-regex likewise runs each filter on
 * its own lines. Verified against one matcher per filter holding that filter's patterns alone.
 */
function asJails(
  filters: readonly string[],
  specs: PatternSpec[],
  specsOf: ReadonlyMap<string, PatternSpec[]>,
  total: number,
): { row: BenchRow; own: { f: string; lines: string[] }[]; filters: number } {
  const pathOf = (f: string) => `/var/log/bench/${f}.log`;
  const jails = filters.map((f) =>
    jail(f, { patterns: (specsOf.get(f) ?? []).map((p) => p.name), logpath: [pathOf(f)] }),
  );
  const routes = logRoutes(
    jails,
    specs.map((p) => p.name),
  );
  // version 3 (the mixed rows run 1 and 2): sets that share no regex source, as consecutive
  // versions in a worker do (compilePattern), so none runs on code another set compiled
  const payload = JSON.stringify({ version: 3, specs, skip: [], routes: routes.patterns });
  const per = Math.ceil(total / filters.length);
  const own = filters.map((f) => ({ f, route: routes.paths.get(pathOf(f)) ?? 0, lines: corpus(f, per) }));
  const task = (route: number, lines: string[], patterns = payload): MatchTask => ({
    version: 3,
    patterns,
    buf: new TextEncoder().encode(`${lines.join('\n')}\n`),
    count: lines.length,
    timeMs: Date.now(),
    lineTime: false,
    maxLen: 8192,
    budgetMs: 1e9,
    route,
  });
  const batches: { f: string; t: MatchTask }[] = [];
  for (let off = 0; ; off += BATCH) {
    let any = false;
    for (const o of own) {
      const part = o.lines.slice(off, off + BATCH);
      if (part.length === 0) continue;
      any = true;
      batches.push({ f: o.f, t: task(o.route, part) });
    }
    if (!any) break;
  }
  const lines = batches.reduce((n, b) => n + b.t.count, 0);
  const m = new BatchMatcher();
  const got = new Map<string, number>();
  const samples: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    got.clear();
    const t0 = cpuUs();
    for (const b of batches) {
      const res = m.run(b.t);
      got.set(b.f, (got.get(b.f) ?? 0) + res.matches);
    }
    samples.push((cpuUs() - t0) / lines);
  }
  // the reference: each filter's patterns alone, in a matcher of their own, on the same lines
  const wrong: string[] = [];
  let matched = 0;
  for (const o of own) {
    const alone = JSON.stringify({ version: 3, specs: specsOf.get(o.f) ?? [], skip: [] });
    const want = new BatchMatcher().run(task(0, o.lines, alone)).matches;
    matched += want;
    if ((got.get(o.f) ?? 0) !== want) wrong.push(`${o.f} ${got.get(o.f) ?? 0}/${want}`);
  }
  const row: BenchRow = {
    name: `${specs.length} patterns from ${filters.length} Debian filters as jails, each reading its own log (logpath), ${lines} lines in batches of ${BATCH}`,
    value: median(samples),
    unit: 'CPU-µs/line',
    stat: `median of ${REPEATS}`,
    target: '≤ 1',
    verified: wrong.length === 0,
    verification:
      wrong.length === 0
        ? `${matched} lines matched, per filter as many as its patterns alone match`
        : `matches differ from each filter alone (routed/alone): ${wrong.join(', ')}`,
    notes: `every line is read by its jail's patterns only, as in fail2ban; the mixed row above is one stream read by every pattern (syslog without logpath)`,
  };
  return { row, own, filters: filters.length };
}

/** fail2ban-regex on each filter's own lines (its start-up subtracted): the jails row's peer. */
async function againstFail2ban(
  run: ReturnType<typeof asJails>,
  dir: string,
  startUs: ReadonlyMap<string, number>,
  quick: boolean,
): Promise<BenchRow[]> {
  const { row, own, filters } = run;
  const ours = row.value;
  // every line the jails read (~12k a filter): fail2ban-regex's start-up (~0.3 CPU-s, varying by
  // tens of ms) would swamp a thousand lines' cost
  const k = quick ? 2000 : 20_000;
  let f2b = 0;
  let ran = 0;
  let lines = 0;
  for (const o of own) {
    const first = startUs.get(o.f);
    if (first === undefined) continue;
    const log = join(dir, `own-${o.f}.log`);
    const n = Math.min(k, o.lines.length);
    lines = Math.max(lines, n);
    writeFileSync(log, `${o.lines.slice(0, n).join('\n')}\n`);
    try {
      const conf = `/etc/fail2ban/filter.d/${o.f}.conf`;
      // the cheaper of two start-ups: the other run's may have waited for the CPU
      const again = await fail2banRegex(join(dir, 'empty.log'), conf);
      const start = Math.min(first, again?.cpuUs ?? first);
      const r = await fail2banRegex(log, conf);
      if (r === null) continue;
      f2b += Math.max(0, r.cpuUs - start) / n;
      ran++;
    } catch {
      // left out of the mean, and said so
    }
  }
  const out = [row];
  if (ran > 0) {
    const mean = f2b / ran;
    row.baseline = { name: 'fail2ban-regex, each filter on its own lines (mean over filters)', value: mean };
    out.push({
      name: `fail2ban-regex --no-check-all, each of ${ran} filters on ${lines} lines of its own log, mean per-line cost`,
      value: mean,
      unit: 'CPU-µs/line',
      stat: 'one run per filter, start-up (empty log) subtracted',
      notes: `edgeban's jails read a line for ${(mean / ours).toFixed(0)}× less${ran < filters ? `; ${filters - ran} filters did not run in fail2ban-regex` : ''}`,
    });
  }
  return out;
}
