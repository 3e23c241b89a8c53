/**
 * One `edgeban serve` of a given build, the way an operator starts it (every front on, SQLite),
 * bound to loopback on free ports: start-up time from spawn, RSS read from /proc after the
 * collector settles, and the API's own counts to check what it holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { freePort } from '../../test/helpers/net.js';

export interface Served {
  proc: ChildProcess;
  apiPort: number;
  syslogPort: number;
  /** Spawn → "persisted bans restored". */
  restoredMs: number;
  /** Spawn → SPOA listening (lookups served from then on). */
  listeningMs: number;
  /** Spawn → the last stop's snapshot in force (0: none was read). */
  enforcedMs: number;
  log: () => string;
}

/** VmRSS of a process, bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export async function startServe(
  bin: string,
  cwd: string,
  dsn: string,
  extraEnv: Record<string, string> = {},
): Promise<Served> {
  const apiPort = await freePort();
  const syslogPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FAIL2BAN_DATABASE_DRIVER: 'sqlite3',
    FAIL2BAN_DATABASE_DSN: dsn,
    FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
    FAIL2BAN_SPOA_PORT: String(await freePort()),
    FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${syslogPort}`,
    FAIL2BAN_SYSLOG_PROTOCOL: 'tcp',
    FAIL2BAN_NGINX_ADDRESS: '127.0.0.1',
    FAIL2BAN_NGINX_PORT: String(apiPort),
    FAIL2BAN_ENVOY_ADDRESS: '127.0.0.1',
    FAIL2BAN_ENVOY_PORT: String(await freePort()),
    FAIL2BAN_PROMETHEUS_ADDRESS: '127.0.0.1',
    FAIL2BAN_PROMETHEUS_PORT: String(await freePort()),
  };
  // the bench's own node flags are not the server's; a run may set its own
  delete env.NODE_OPTIONS;
  Object.assign(env, extraEnv);
  const t0 = performance.now();
  const proc = spawn(process.execPath, [bin, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let listeningMs = 0;
  let restoredMs = 0;
  let enforcedMs = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      // keep the head (start-up lines) and a bounded tail for error messages
      out = out.length > 200_000 ? out.slice(0, 100_000) + out.slice(-50_000) + d : out + d;
      if (!listeningMs && out.includes('"msg":"spoa started"')) listeningMs = performance.now() - t0;
      if (!restoredMs && out.includes('persisted bans restored')) restoredMs = performance.now() - t0;
      if (!enforcedMs && out.includes('persisted bans in force from the last stop'))
        enforcedMs = performance.now() - t0;
      if (listeningMs && restoredMs && out.includes('"msg":"edgeban started"')) resolve();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (c) => reject(new Error(`edgeban exited ${c}:\n${out.slice(-3000)}`)));
    setTimeout(() => reject(new Error(`edgeban not ready in 300 s:\n${out.slice(-3000)}`)), 300_000).unref();
  });
  proc.stdout?.removeAllListeners('data');
  proc.stderr?.removeAllListeners('data');
  proc.stdout?.resume();
  proc.stderr?.resume();
  return { proc, apiPort, syslogPort, restoredMs, listeningMs, enforcedMs, log: () => out };
}

/** SIGTERM, as a service manager stops it (the state snapshot is written then). */
export async function stopGracefully(s: Served): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const gone = new Promise<number | null>((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const code = await gone;
  if (code !== 0) throw new Error(`edgeban stopped with ${code}`);
}

export async function stopServe(s: Served): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGKILL');
  await gone;
}

/** GET a JSON document from the API. */
export function apiGet(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (err) {
          reject(
            new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)} (${(err as Error).message})`),
          );
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.end();
  });
}

/** `total_ips_tracked` and `currently_banned` as the API reports them. */
export async function apiCounts(port: number): Promise<{ tracked: number; banned: number }> {
  const r = await apiGet(port, '/api/radix-stats');
  const s = r.stats as { total_ips_tracked: number; currently_banned: number };
  return { tracked: s.total_ips_tracked, banned: s.currently_banned };
}

/**
 * RSS once the collector has settled: sampled every second for `seconds`, the median of the
 * last three samples (V8 gives pages back over a few idle seconds after the last allocation).
 */
export async function settledRss(pid: number, seconds: number): Promise<{ rss: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rssOf(pid));
  }
  const last = samples.slice(-3).sort((a, b) => a - b);
  return { rss: last[1] ?? last[0], samples };
}

/**
 * `n` failed sshd logins from distinct IPv4 addresses (one each, so none is banned) over TCP
 * syslog, newline-framed, with back-pressure.
 */
export async function floodSyslog(port: number, n: number, first: (i: number) => string): Promise<void> {
  const sock = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const CHUNK = 2000;
  for (let i = 0; i < n; ) {
    let s = '';
    for (let k = 0; k < CHUNK && i < n; k++, i++)
      s += `<38>Dec  2 12:00:00 gw sshd[4242]: Failed password for root from ${first(i)} port 52144 ssh2\n`;
    if (!sock.write(s)) await new Promise((r) => sock.once('drain', r));
  }
  await new Promise<void>((resolve) => sock.end(resolve));
}
