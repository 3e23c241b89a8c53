import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * A server under test in a process of its own (so its CPU time can be read from /proc): the
 * script prints `READY <port>` once it listens.
 */
export async function startReadyProcess(
  script: string,
  args: string[] = [],
): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
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
