import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { after } from 'node:test';
import { hello26, ipv4, notify, RawPeer } from '../spoa/client.js';
import { freePort } from './net.js';

export const EDGEBAN_BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'edgeban.js');

/** A running `edgeban serve` on private loopback ports, its output collected. */
export interface EdgeProcess {
  proc: ChildProcess;
  spoa: number;
  metrics: number;
  syslog: number;
  /** nginx.port: /auth, /health and the REST API. */
  http: number;
  out(): string;
  exited: Promise<number | null>;
  /** Resolve once the output matches (throws after `ms`, or if the process exits). */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
const killAll = () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
};
process.on('exit', killAll);
// a failed test leaves its edgeban running, and its pipes would keep this file's process (and
// the whole test run) alive forever: once every test of the file is done, stop what is left
after(killAll);

/**
 * Start edgeban in `cwd`; every port is a free one unless `env` says otherwise. The SQLite
 * database (on by default) is `cwd/fail2ban.db`: `cwd` should be a temp folder.
 */
export async function startEdge(
  cwd: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<EdgeProcess> {
  const spoa = await freePort();
  const metrics = await freePort();
  const syslog = await freePort();
  const http = await freePort();
  const fullEnv = {
    ...process.env,
    FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
    FAIL2BAN_SPOA_PORT: String(spoa),
    FAIL2BAN_PROMETHEUS_ADDRESS: '127.0.0.1',
    FAIL2BAN_PROMETHEUS_PORT: String(metrics),
    FAIL2BAN_NGINX_ADDRESS: '127.0.0.1',
    FAIL2BAN_NGINX_PORT: String(http),
    FAIL2BAN_ENVOY_ADDRESS: '127.0.0.1',
    FAIL2BAN_ENVOY_PORT: String(await freePort()),
    FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${syslog}`,
    FAIL2BAN_DATABASE_DSN: join(cwd, 'fail2ban.db'),
    ...env,
  };
  const proc = spawn(process.execPath, [EDGEBAN_BIN, 'serve', ...args], {
    cwd,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      r(code);
    }),
  );
  const waitFor = async (text: string | RegExp, ms = 10_000) => {
    const end = Date.now() + ms;
    const seen = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
    while (!seen()) {
      if (Date.now() > end || proc.exitCode !== null)
        throw new Error(`never logged ${String(text)}:\n${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { proc, spoa, metrics, syslog, http, out: () => out, exited, waitFor };
}

/** The agent's answer for `ip` over SPOP: 1 = banned, 0 = not. */
export async function spopBanned(port: number, ip: string): Promise<number> {
  const p = await RawPeer.open(port);
  p.send(hello26());
  p.send(notify(1, 1, [['check-client-ip', [['src', ipv4(ip)]]]]));
  const f = await p.waitFrames(2);
  p.close();
  return f[1].payload[f[1].payload.length - 1];
}

/** A Dovecot login failure from `ip`, as syslog sends it (five of them ban it by default). */
export const dovecotLine = (ip: string) =>
  `<38>Nov 30 12:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;

/** Syslog lines to an edge over UDP, one datagram each. */
export async function sendLines(port: number, lines: string[]): Promise<void> {
  const s = createSocket('udp4');
  for (const l of lines)
    await new Promise<void>((r, j) => s.send(l, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  s.close();
}

/** A REST API call (GET, or POST with a JSON body) that must answer 200. */
export async function api<T = Record<string, unknown>>(
  edge: EdgeProcess,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${edge.http}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}
