/**
 * Failure trackers under floods, this tree against the trackers before the admission sketch
 * (built from the parent of the commit that added src/main/engine/sketch.ts, in the same run):
 * the cost of a failure from a new address with the table full (a flood of distinct addresses),
 * of a failure from a tracked one, and how many of 200 slow attackers (one failure a round, more
 * one-shot addresses between two of their failures than the table holds) reach 6 counted
 * failures. `--quick`: a tenth of the sizes.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FailureTrackers } from '../src/main/engine/trackers.js';
import { type Build, buildCommit } from './memory/builds.js';
import type { BenchReport, BenchRow } from './run.js';

const REPO = join(import.meta.dirname, '..', '..');
const T0 = Date.UTC(2026, 0, 1);
const RUNS = 3;

interface Trackers {
  record(bytes: Uint8Array, family: 4 | 6, timeMs: number): number;
}
type Make = (capacity: number, maxAttempts: number, windowMs: number) => Trackers;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function put(b: Uint8Array, i: number): void {
  b[0] = 11 + ((i >>> 24) & 0x3f);
  b[1] = (i >>> 16) & 255;
  b[2] = (i >>> 8) & 255;
  b[3] = i & 255;
}

/** ns per failure, every address new, `n` of them through a table of `cap` (full after `cap`). */
function flood(make: Make, cap: number, n: number): number {
  const t = make(cap, 5, 600_000);
  const b = new Uint8Array(4);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    put(b, i);
    t.record(b, 4, T0 + (i >>> 6));
  }
  return ((performance.now() - t0) * 1e6) / n;
}

/** ns per failure of an address already tracked (`cap` addresses, each seen 4 more times). */
function repeats(make: Make, cap: number): number {
  const t = make(cap, 64, 600_000);
  const b = new Uint8Array(4);
  for (let i = 0; i < cap; i++) {
    put(b, i);
    t.record(b, 4, T0);
  }
  const t0 = performance.now();
  for (let r = 0; r < 4; r++)
    for (let i = 0; i < cap; i++) {
      put(b, i);
      t.record(b, 4, T0 + r);
    }
  return ((performance.now() - t0) * 1e6) / (4 * cap);
}

/** Attackers (of 200) whose count reached 6, one failure each per round, 8 rounds. */
function slowAttackers(make: Make, cap: number): number {
  const t = make(cap, 6, 3_600_000);
  const per = Math.floor((10 * cap) / (8 * 200));
  const a = new Uint8Array([198, 18, 0, 0]);
  const b = new Uint8Array(4);
  const best = new Uint8Array(200);
  let i = 0;
  for (let r = 0; r < 8; r++)
    for (let j = 0; j < 200; j++) {
      a[3] = j;
      best[j] = Math.max(best[j], t.record(a, 4, T0 + r));
      for (let k = 0; k < per; k++, i++) {
        put(b, i);
        t.record(b, 4, T0 + r);
      }
    }
  return best.filter((n) => n >= 6).length;
}

function baselineCommit(): string | null {
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
    const added = git(['log', '--format=%H', '--diff-filter=A', '--', 'src/main/engine/sketch.ts'])
      .split('\n')
      .filter(Boolean);
    const first = added[added.length - 1];
    return first ? git(['rev-parse', `${first}^`]) : null;
  } catch {
    return null;
  }
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const cap = quick ? 100_000 : 1_000_000;
  const n = 5 * cap;
  const impls: { name: string; make: Make }[] = [
    { name: 'this tree', make: (c, m, w) => new FailureTrackers(c, m, w) },
  ];
  let build: Build | null = null;
  const base = args.includes('--no-baseline') ? null : baselineCommit();
  try {
    if (base) {
      build = buildCommit(REPO, base, `before admission (${base.slice(0, 10)})`);
      const file = join(build.bin, '..', '..', 'dist', 'src', 'main', 'engine', 'trackers.js');
      const mod = (await import(pathToFileURL(file).href)) as {
        FailureTrackers: new (c: number, m: number, w: number) => Trackers;
      };
      impls.push({ name: build.name, make: (c, m, w) => new mod.FailureTrackers(c, m, w) });
    }
    const got = new Map<string, { flood: number; repeat: number; slow: number }>();
    for (const im of impls) got.set(im.name, { flood: 0, repeat: 0, slow: 0 });
    const floods = new Map<string, number[]>(impls.map((im) => [im.name, []]));
    const reps = new Map<string, number[]>(impls.map((im) => [im.name, []]));
    // alternated, so a change in the machine's load hits both alike
    for (let r = 0; r < RUNS; r++)
      for (const im of impls) {
        floods.get(im.name)?.push(flood(im.make, cap, n));
        reps.get(im.name)?.push(repeats(im.make, cap));
      }
    for (const im of impls) {
      const g = got.get(im.name);
      if (!g) continue;
      g.flood = median(floods.get(im.name) ?? []);
      g.repeat = median(reps.get(im.name) ?? []);
      g.slow = slowAttackers(im.make, cap);
      console.error(
        `trackers: ${im.name}: ${g.flood.toFixed(0)} ns/new address (full), ${g.repeat.toFixed(0)} ns/repeat, ${g.slow} of 200 slow attackers counted 6`,
      );
    }
    const cur = got.get(impls[0].name);
    const old = impls[1] ? got.get(impls[1].name) : undefined;
    const vs = (v: number | undefined) =>
      old && v !== undefined ? { baseline: { name: impls[1].name, value: v } } : {};
    const label = cap >= 1e6 ? `${cap / 1e6}M` : `${cap / 1e3}k`;
    const rows: BenchRow[] = [
      {
        name: `failure from a new address, table of ${label} full (${n.toLocaleString('en-US')} distinct)`,
        value: cur?.flood ?? Number.NaN,
        unit: 'ns',
        stat: `median of ${RUNS}`,
        ...vs(old?.flood),
      },
      {
        name: `failure from a tracked address (${label} tracked)`,
        value: cur?.repeat ?? Number.NaN,
        unit: 'ns',
        stat: `median of ${RUNS}`,
        ...vs(old?.repeat),
      },
      {
        name: `slow attackers counted to 6 among one-shot floods (table of ${label})`,
        value: cur?.slow ?? Number.NaN,
        unit: 'of 200',
        target: 'all',
        notes: `one failure a round, 8 rounds, ${Math.floor((10 * cap) / 1600) * 200} one-shot addresses between two`,
        verified: true,
        verification: 'record() returns the failures counted; the best per attacker is kept',
        ...vs(old?.slow),
      },
    ];
    return { bench: 'trackers', rows, params: { capacity: cap, flood: n, baseline: base } };
  } finally {
    build?.cleanup();
  }
}
