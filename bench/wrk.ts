import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findBinary } from '../test/helpers/peers.js';

const run$ = promisify(execFile);

export interface WrkResult {
  rps: number;
  p99ms: number;
  requests: number;
  non2xx: number;
}

/** One wrk run (`-t 1`), parsed: requests/s, p99, request count, non-2xx count. */
export async function wrk(url: string, conns: number, secs: number, script?: string): Promise<WrkResult> {
  const args = ['-t', '1', '-c', String(conns), '-d', `${secs}s`, '--latency'];
  if (script) args.push('-s', script);
  const { stdout } = await run$(findBinary('wrk') ?? 'wrk', [...args, url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : Number.NaN;
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return { rps, p99ms, requests, non2xx };
}
