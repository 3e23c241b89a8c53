import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type BanTable, Kind } from '../src/shared/bantable/index.js';
import { findBinary } from '../test/helpers/peers.js';

/**
 * A server under test in a process of its own (so its CPU time can be read from /proc): the
 * script prints `READY <port>` once it listens.
 */
export async function startReadyProcess(
  script: string,
  args: string[] = [],
  opts: { nodeFlags?: string[]; cpu?: number | null } = {},
): Promise<{ proc: ChildProcess; port: number }> {
  const argv = [...(opts.nodeFlags ?? []), script, ...args];
  // pinned to one core with taskset when asked (and available), so CPU per request is one core's
  const pinned = opts.cpu !== undefined && opts.cpu !== null && findBinary('taskset') !== null;
  const proc = pinned
    ? spawn('taskset', ['-c', String(opts.cpu), process.execPath, ...argv], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (c) => reject(new Error(`${script} exited ${c}`)));
  });
  return { proc, port };
}

/** utime + stime of a process, in clock ticks (1/100 s). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** `n` temporary bans in 100.0.0.0/6 (addresses no benchmark asks about), so lookups hit a full table. */
export function backgroundBans(table: BanTable, n: number, until: number, reason: number): void {
  const b = new Uint8Array(4);
  for (let i = 0; i < n; i++) {
    b[0] = 100 + (i >>> 24);
    b[1] = (i >>> 16) & 255;
    b[2] = (i >>> 8) & 255;
    b[3] = i & 255;
    table.set(b, 4, 32, Kind.TEMP_BAN, until, 1, reason);
  }
}
