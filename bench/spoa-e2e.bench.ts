/**
 * End to end: wrk → HAProxy (nbthread 1) → a response HAProxy makes itself, with and without
 * the SPOE filter asking edgeban (in its own process). Requests/s, p99, and CPU per request of
 * HAProxy and of the agent, from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from '../test/helpers/haproxy.js';
import { freePort } from '../test/helpers/net.js';
import { findBinary } from '../test/helpers/peers.js';
import type { BenchReport, BenchRow } from './run.js';
import { cpuTicks, startAgentProcess } from './spoa-storm.bench.js';
import { wrk } from './wrk.js';

function haproxyConfig(port: number, agentPort: number | null): string {
  const spoe = agentPort
    ? `    filter spoe engine e config spoe.conf
    http-request deny deny_status 403 if { var(sess.e.banned) -m int eq 1 }
`
    : '';
  return `global
    nbthread 1
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client  30s
    timeout server  30s
frontend fe
    bind 127.0.0.1:${port}
${spoe}    http-request return status 200 content-type text/plain string "ok\\n"
backend spoa
    mode tcp
    timeout connect 2s
    timeout server 60s
    server a1 127.0.0.1:${agentPort ?? 1} maxconn 1000
`;
}

const SPOE_CONF = `[e]
spoe-agent e-agent
    messages check-client-ip
    option var-prefix e
    option set-on-error error
    register-var-names banned
    no option send-frag-payload
    timeout hello 2s
    timeout idle 30s
    timeout processing 500ms
    use-backend spoa
spoe-message check-client-ip
    args src=src
    event on-frontend-http-request
`;

async function withHaproxy<T>(
  agentPort: number | null,
  fn: (port: number, pid: number) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-e2e-'));
  const port = await freePort();
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(port, agentPort));
  writeFileSync(join(dir, 'spoe.conf'), SPOE_CONF);
  const proc: ChildProcess = spawn(findBinary('haproxy') ?? 'haproxy', ['-db', '-f', 'haproxy.cfg'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port, 5000);
    return await fn(port, proc.pid ?? 0);
  } finally {
    proc.kill('SIGTERM');
  }
}

export async function run(args: string[]): Promise<BenchReport> {
  if (!findBinary('haproxy') || !findBinary('wrk'))
    return { bench: 'spoa-e2e', rows: [], skipped: 'haproxy or wrk not found: apt-get install haproxy wrk' };
  const secs = args.includes('--quick') ? 3 : 8;
  const rows: BenchRow[] = [];
  const agent = await startAgentProcess(0);
  try {
    for (const conns of [50, 200]) {
      const base = await withHaproxy(null, async (port, hpid) => {
        await wrk(`http://127.0.0.1:${port}/`, conns, 1);
        const h0 = cpuTicks(hpid);
        const r = await wrk(`http://127.0.0.1:${port}/`, conns, secs);
        return { ...r, hapUs: ((cpuTicks(hpid) - h0) * 10_000) / r.requests };
      });
      const spoe = await withHaproxy(agent.port, async (port, hpid) => {
        await wrk(`http://127.0.0.1:${port}/`, conns, 1);
        const h0 = cpuTicks(hpid);
        const a0 = cpuTicks(agent.proc.pid ?? 0);
        const r = await wrk(`http://127.0.0.1:${port}/`, conns, secs);
        return {
          ...r,
          hapUs: ((cpuTicks(hpid) - h0) * 10_000) / r.requests,
          agentUs: ((cpuTicks(agent.proc.pid ?? 0) - a0) * 10_000) / r.requests,
        };
      });
      // nothing is banned: every answer must be HAProxy's 200, with the agent asked
      const check =
        spoe.non2xx === 0 && spoe.requests > 0
          ? { verified: true, verification: `all ${spoe.requests} responses 200` }
          : { verified: false, verification: `${spoe.non2xx} of ${spoe.requests} responses not 200` };
      rows.push({
        name: `HAProxy + edgeban SPOE, ${conns} conns: requests/s`,
        value: spoe.rps,
        unit: 'req/s',
        baseline: { name: 'HAProxy without SPOE', value: base.rps },
        target: conns === 50 ? '≥ 55k (C agent 41.2k, Go agent 48.9k, issue #4)' : undefined,
        notes: spoe.non2xx ? `${spoe.non2xx} non-2xx` : 'all 200',
        ...check,
      });
      rows.push({
        name: `HAProxy + edgeban SPOE, ${conns} conns: p99`,
        value: spoe.p99ms,
        unit: 'ms',
        baseline: { name: 'HAProxy without SPOE', value: base.p99ms },
        ...check,
      });
      rows.push({
        name: `HAProxy + edgeban SPOE, ${conns} conns: agent CPU per request`,
        value: spoe.agentUs,
        unit: 'µs',
        target: conns === 50 ? '≤ 6.5 (C agent 13.2, Go agent 13.0, issue #4)' : undefined,
        ...check,
      });
      rows.push({
        name: `HAProxy + edgeban SPOE, ${conns} conns: HAProxy CPU per request`,
        value: spoe.hapUs,
        unit: 'µs',
        baseline: { name: 'HAProxy without SPOE', value: base.hapUs },
        ...check,
      });
    }
  } finally {
    agent.proc.kill('SIGTERM');
  }
  return { bench: 'spoa-e2e', rows, params: { secs, haproxy: 'nbthread 1', wrk: '-t 1' } };
}
