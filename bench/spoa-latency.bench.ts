/**
 * What the SPOA's per-NOTIFY latency histogram costs: two agent processes, one with metrics on
 * (each NOTIFY timed with performance.now() into the typed-array recorder) and one without (no
 * timing at all), driven alternately by the same storm (8 connections × window 32, every ACK
 * checked). Medians of the agent's CPU-µs per NOTIFY and of NOTIFY/s, same run.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startReadyProcess } from './process.js';
import type { BenchReport, BenchRow } from './run.js';
import { storm } from './spoa-storm.bench.js';

const here = dirname(fileURLToPath(import.meta.url));
const BANNED_PERCENT = 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)];
};

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const rounds = quick ? 3 : 7;
  const ms = quick ? 2000 : 4000;
  const script = join(here, 'spoa', 'agent-process.js');
  const agents = {
    timed: await startReadyProcess(script, ['0', String(BANNED_PERCENT), '100000', 'metrics']),
    plain: await startReadyProcess(script, ['0', String(BANNED_PERCENT), '100000']),
  };
  const cpu: Record<keyof typeof agents, number[]> = { timed: [], plain: [] };
  const rate: Record<keyof typeof agents, number[]> = { timed: [], plain: [] };
  let problems = '';
  try {
    const opts = { conns: 8, window: 32, mode: 'stream' as const, bannedPercent: BANNED_PERCENT };
    for (const a of Object.values(agents)) await storm(a.port, a.proc.pid ?? null, { ...opts, ms: 1000 });
    for (let r = 0; r < rounds; r++) {
      for (const k of r % 2 === 0 ? (['timed', 'plain'] as const) : (['plain', 'timed'] as const)) {
        const a = agents[k];
        const s = await storm(a.port, a.proc.pid ?? null, { ...opts, ms });
        if (s.errors > 0 || s.mismatches > 0 || s.acks === 0)
          problems ||= `${k}: ${s.errors} errors, ${s.mismatches} wrong ACKs`;
        cpu[k].push(s.cpuUsPerNotify);
        rate[k].push(s.rate);
      }
    }
  } finally {
    for (const a of Object.values(agents)) a.proc.kill('SIGTERM');
  }
  const verified = problems === '';
  const verification = verified ? `every ACK checked (${BANNED_PERCENT} % banned)` : problems;
  const notes = `8×32 stream, median of ${rounds} alternating runs of ${ms / 1000} s`;
  const rows: BenchRow[] = [
    {
      name: 'agent CPU per NOTIFY, latency histogram on',
      value: median(cpu.timed),
      unit: 'µs',
      baseline: { name: 'no metrics (no timing)', value: median(cpu.plain) },
      notes,
      verified,
      verification,
    },
    {
      name: 'NOTIFY/s, latency histogram on',
      value: Math.round(median(rate.timed)),
      unit: 'NOTIFY/s',
      baseline: { name: 'no metrics (no timing)', value: Math.round(median(rate.plain)) },
      notes,
      verified,
      verification,
    },
  ];
  return { bench: 'spoa-latency', rows, params: { rounds, ms, bannedPercent: BANNED_PERCENT } };
}
