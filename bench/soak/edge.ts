/**
 * A real `edgeban serve` for the soak, on free loopback ports, syslog over UDP and TCP, its
 * SQLite database in a temp folder. Its output is drained (the last 64 KiB kept for errors).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/net.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'edgeban.js');
const KEEP = 64 * 1024;

export interface SoakEdge {
  proc: ChildProcess;
  spoa: number;
  http: number;
  envoy: number;
  metrics: number;
  syslog: number;
  tail(): string;
}

async function waitForPort(port: number, ms: number, proc: ChildProcess): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`edgeban: port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startSoakEdge(cwd: string): Promise<SoakEdge> {
  const [spoa, http, envoy, metrics, syslog] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const env = {
    ...process.env,
    FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
    FAIL2BAN_SPOA_PORT: String(spoa),
    FAIL2BAN_PROMETHEUS_ADDRESS: '127.0.0.1',
    FAIL2BAN_PROMETHEUS_PORT: String(metrics),
    FAIL2BAN_NGINX_ADDRESS: '127.0.0.1',
    FAIL2BAN_NGINX_PORT: String(http),
    FAIL2BAN_ENVOY_ADDRESS: '127.0.0.1',
    FAIL2BAN_ENVOY_PORT: String(envoy),
    FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${syslog}`,
    FAIL2BAN_SYSLOG_PROTOCOL: 'both',
    FAIL2BAN_DATABASE_DSN: join(cwd, 'fail2ban.db'),
  };
  const proc = spawn(process.execPath, [BIN, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d;
    if (out.length > 2 * KEEP) out = out.slice(-KEEP);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const edge: SoakEdge = { proc, spoa, http, envoy, metrics, syslog, tail: () => out.slice(-KEEP) };
  try {
    for (const p of [spoa, http, envoy, metrics, syslog]) await waitForPort(p, 30_000, proc);
  } catch (err) {
    await stopSoakEdge(edge);
    throw new Error(`${(err as Error).message}\n${out.slice(-4000)}`);
  }
  return edge;
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopSoakEdge(edge: SoakEdge): Promise<void> {
  const p = edge.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Resident set size of a process in MiB, NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** POST /api/ban on the edge (temporary ban, `duration` as the API reads it). */
export async function apiBan(edge: SoakEdge, ip: string, duration: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${edge.http}/api/ban`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ip_address: ip, duration, reason: 'soak probe' }),
  });
  if (res.status !== 200) throw new Error(`POST /api/ban ${ip}: ${res.status} ${await res.text()}`);
}
