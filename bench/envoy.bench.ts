/**
 * Envoy ext_authz: Check calls/s and latency over ONE HTTP/2 connection with 1, 10 and 100
 * concurrent streams, h2load (Debian's nghttp2-client) playing Envoy. The agent runs in its own
 * process pinned to one core (taskset), h2load on another; the agent's CPU time per check is
 * read from /proc. The same run measures a bare grpc-js server answering a constant (the
 * framework's own cost) as the baseline. Requests are realistic HTTP-filter CheckRequests
 * (~700 bytes: source/destination, 14 headers) encoded from our .proto; every run is checked:
 * no failed, errored or timed-out request, every status 2xx, and the DATA bytes h2load received
 * are exactly those of `done` expected allow/deny answers (plus at most the streams still in
 * flight at the end). No `--warm-up-time`: h2load counts the warm-up's DATA bytes in its traffic
 * totals but not its requests, so bytes per response would not add up; a separate 2 s run warms
 * each agent up instead. `--quick`: one 2 s run per scenario.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { defaultConfig } from '../src/main/config/defaults.js';
import { checkOptions } from '../src/main/envoy/check.js';
import { AUTH_PROTO, PROTO_DIR } from '../src/main/envoy/proto.js';
import { findBinary } from '../test/helpers/peers.js';
import { ALLOWED_SOURCE, BANNED_SOURCE } from './envoy/agent-process.js';
import { startReadyProcess } from './process.js';
import type { BenchReport, BenchRow } from './run.js';
import { cpuTicks } from './spoa-storm.bench.js';

const here = import.meta.dirname;
const CLK_TCK = 100;
const SEMI_SPACE = '--max-semi-space-size=64';

interface Agent {
  proc: ChildProcess;
  port: number;
}

function pinned(cpu: number | null, cmd: string, args: string[]): [string, string[]] {
  return cpu !== null && findBinary('taskset') ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

async function startAgent(
  mode: 'edgeban' | 'baseline',
  cpu: number | null,
  nodeFlags: string[] = [],
): Promise<Agent> {
  return startReadyProcess(join(here, 'envoy', 'agent-process.js'), [mode], { nodeFlags, cpu });
}

async function stopAgent(a: Agent): Promise<void> {
  const exited = new Promise((r) => a.proc.once('exit', r));
  a.proc.kill('SIGTERM');
  await exited;
}

/** A realistic HTTP-filter CheckRequest, as a gRPC frame. */
function checkFrame(source: string): Buffer {
  const def = loadSync(AUTH_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });
  const ser = (
    def['envoy.service.auth.v3.Authorization'] as unknown as {
      Check: { requestSerialize: (v: unknown) => Buffer };
    }
  ).Check.requestSerialize;
  const msg = ser({
    attributes: {
      source: { address: { socket_address: { address: source, port_value: 43210 } } },
      destination: { address: { socket_address: { address: '10.0.0.1', port_value: 443 } } },
      request: {
        time: { seconds: 1_700_000_000, nanos: 1 },
        http: {
          id: '12345678901234567890',
          method: 'GET',
          path: '/index.html?x=1',
          host: 'www.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          size: -1,
          headers: {
            ':authority': 'www.example.com',
            ':method': 'GET',
            ':path': '/index.html?x=1',
            ':scheme': 'https',
            'user-agent':
              'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0',
            accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
            'accept-encoding': 'gzip, deflate, br',
            'accept-language': 'en-US,en;q=0.9',
            cookie: 'session=abcdef0123456789; theme=dark',
            'x-forwarded-for': source,
            'x-forwarded-proto': 'https',
            'x-request-id': '8f9e2d1c-1234-4567-89ab-0123456789ab',
            'x-envoy-expected-rq-timeout-ms': '250',
          },
        },
      },
    },
  });
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

/** Ask once with a real gRPC client and return the response's length (and check its status). */
async function probe(port: number, frame: Buffer, wantCode: number): Promise<number> {
  const def = loadSync(AUTH_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });
  const pkg = loadPackageDefinition(def) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: ServiceClientConstructor } } } };
  };
  const svc = pkg.envoy.service.auth.v3.Authorization;
  const c = new svc(`127.0.0.1:${port}`, credentials.createInsecure());
  const req =
    (def['envoy.service.auth.v3.CheckRequest'] as unknown as {
      type: unknown;
    }) && (svc.service.Check.requestDeserialize as (b: Buffer) => unknown)(frame.subarray(5));
  const res = await new Promise<{ status: { code: number } }>((resolve, reject) =>
    (
      c as unknown as {
        Check: (r: unknown, cb: (e: Error | null, r: { status: { code: number } }) => void) => void;
      }
    ).Check(req, (e, r) => (e ? reject(e) : resolve(r))),
  );
  c.close();
  if ((res.status?.code ?? 0) !== wantCode)
    throw new Error(`probe: status ${res.status?.code}, want ${wantCode}`);
  const bytes = (svc.service.Check.responseSerialize as (v: unknown) => Buffer)(res);
  return bytes.length;
}

interface H2Result {
  rate: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  /** Counted when a response's headers arrive: streams cut off at the end are included. */
  status2xx: number;
  statusOther: number;
  /** DATA payload bytes received (gRPC frames: 5-byte prefix + message). */
  data: number;
  p50: number;
  p99: number;
  cpuUsPerCheck: number;
}

function h2load(
  port: number,
  body: string,
  streams: number,
  secs: number,
  cpu: number | null,
  pid: number,
): H2Result {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-h2load-'));
  const log = join(dir, 'log.tsv');
  const [cmd, args] = pinned(cpu, 'h2load', [
    '-c',
    '1',
    '-t',
    '1',
    '-m',
    String(streams),
    '-D',
    String(secs),
    '-d',
    body,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `--log-file=${log}`,
    `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`,
  ]);
  const cpu0 = cpuTicks(pid);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: (secs + 30) * 1000 });
  const cpuSecs = (cpuTicks(pid) - cpu0) / CLK_TCK;
  if (r.status !== 0) throw new Error(`h2load failed: ${r.stderr || r.stdout}`);
  const out = r.stdout;
  const rate = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
  const m =
    /requests: \d+ total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  // an unparsable summary reads as NaN and fails the check rather than passing it
  const num = (v: string | undefined) => (v === undefined ? Number.NaN : Number(v));
  const done = num(m?.[2]);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const data = num(/\((\d+)\) data/.exec(out)?.[1]);
  const durations = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(l.split('\t')[2]))
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  rmSync(dir, { recursive: true, force: true });
  const pct = (q: number) => durations[Math.min(durations.length - 1, Math.floor(durations.length * q))];
  return {
    rate,
    started: num(m?.[1]),
    done,
    succeeded: num(m?.[3]),
    failed: num(m?.[4]),
    errored: num(m?.[5]),
    timeout: num(m?.[6]),
    status2xx: num(codes?.[1]),
    statusOther: num(codes?.[2]) + num(codes?.[3]) + num(codes?.[4]),
    data,
    p50: pct(0.5),
    p99: pct(0.99),
    cpuUsPerCheck: done > 0 ? (cpuSecs * 1e6) / done : Number.NaN,
  };
}

/**
 * What is wrong with one run, or null. h2load sees only HTTP: a gRPC error (trailers-only, no
 * DATA) is a 200 to it, so the DATA byte total is what proves each answer was the expected one.
 * Streams cut off at the end of the duration may have received part of their answer.
 */
function runProblem(r: H2Result, len: number): string | null {
  const inFlight = r.started - r.done;
  const extra = r.data - r.done * len;
  if (!(r.done > 0)) return `no request done (${r.done})`;
  if (r.failed !== 0 || r.errored !== 0 || r.timeout !== 0)
    return `${r.failed} failed, ${r.errored} errored, ${r.timeout} timed out of ${r.done}`;
  if (r.succeeded !== r.done || r.statusOther !== 0 || !(r.status2xx >= r.done && r.status2xx <= r.started))
    return `${r.succeeded} succeeded, ${r.status2xx} 2xx and ${r.statusOther} other statuses of ${r.done} done (${inFlight} in flight)`;
  if (!(extra >= 0 && extra <= inFlight * len))
    return `${r.data} DATA bytes for ${r.done} answers of ${len} bytes (${inFlight} in flight)`;
  return null;
}

/** The verdict over a scenario's runs, for every row made from them. */
function verdict(runs: H2Result[], len: number, what: string): { verified: boolean; verification: string } {
  const problems = runs.map((r) => runProblem(r, len)).filter((p): p is string => p !== null);
  const done = runs.reduce((a, r) => a + r.done, 0);
  return problems.length === 0
    ? {
        verified: true,
        verification: `all ${done} done 2xx, no failure, DATA bytes those of ${done} expected ${len}-byte ${what} answers`,
      }
    : {
        verified: false,
        verification: `${problems.length} of ${runs.length} runs wrong: ${problems.join('; ')}`,
      };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const secs = quick ? 2 : 5;
  const reps = quick ? 1 : 3;
  if (!findBinary('h2load')) {
    return { bench: 'envoy', rows: [], skipped: 'h2load not found: apt-get install nghttp2-client' };
  }
  const twoCores = availableParallelism() >= 2;
  const agentCpu = twoCores ? 0 : null;
  const loadCpu = twoCores ? 1 : null;
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-envoy-bench-'));
  const allowFrame = checkFrame(ALLOWED_SOURCE);
  const denyFrame = checkFrame(BANNED_SOURCE);
  const allowBody = join(dir, 'allow.bin');
  const denyBody = join(dir, 'deny.bin');
  writeFileSync(allowBody, allowFrame);
  writeFileSync(denyBody, denyFrame);
  // sanity: the options the agent uses are the defaults (403, allowed header on)
  const opts = checkOptions(defaultConfig());
  const rows: BenchRow[] = [];
  const edge = await startAgent('edgeban', agentCpu);
  const base = await startAgent('baseline', agentCpu);
  try {
    // every response must be the expected answer: its size (gRPC frame) is compared below
    const allowLen = 5 + (await probe(edge.port, allowFrame, 0));
    const denyLen = 5 + (await probe(edge.port, denyFrame, 7));
    const baseLen = 5 + (await probe(base.port, allowFrame, 0));
    // warm-up: let both JITs settle
    h2load(edge.port, allowBody, 10, 2, loadCpu, edge.proc.pid ?? 0);
    h2load(base.port, allowBody, 10, 2, loadCpu, base.proc.pid ?? 0);
    const scenarios: {
      name: string;
      body: string;
      streams: number;
      len: number;
      target?: string;
      lat?: string;
    }[] = [
      { name: 'allowed, 1 stream', body: allowBody, streams: 1, len: allowLen },
      {
        name: 'allowed, 10 streams',
        body: allowBody,
        streams: 10,
        len: allowLen,
        target: '≥ 30,000 checks/s',
        lat: 'p99 ≤ 2 ms',
      },
      {
        name: 'allowed, 100 streams',
        body: allowBody,
        streams: 100,
        len: allowLen,
        target: '≥ 30,000 checks/s',
      },
      { name: 'denied (403 + headers + body), 10 streams', body: denyBody, streams: 10, len: denyLen },
    ];
    for (const s of scenarios) {
      const runs: H2Result[] = [];
      const baseRuns: H2Result[] = [];
      for (let i = 0; i < reps; i++) {
        runs.push(h2load(edge.port, s.body, s.streams, secs, loadCpu, edge.proc.pid ?? 0));
        if (s.body === allowBody)
          baseRuns.push(h2load(base.port, s.body, s.streams, secs, loadCpu, base.proc.pid ?? 0));
      }
      const own = verdict(runs, s.len, s.body === allowBody ? 'allow' : 'deny');
      // the baseline's figures sit in the same rows: its answers are checked as well
      const baseCheck = baseRuns.length ? verdict(baseRuns, baseLen, 'constant') : null;
      const check =
        baseCheck === null
          ? own
          : {
              verified: own.verified && baseCheck.verified,
              verification: `${own.verification}; baseline: ${baseCheck.verification}`,
            };
      const baseline = baseRuns.length ? median(baseRuns.map((r) => r.rate)) : undefined;
      rows.push({
        name: `Check ${s.name}: checks/s`,
        value: median(runs.map((r) => r.rate)),
        unit: 'checks/s',
        stat: `median of ${reps}`,
        baseline:
          baseline !== undefined ? { name: 'bare grpc-js, constant answer', value: baseline } : undefined,
        target: s.target,
        ...check,
      });
      rows.push({
        name: `Check ${s.name}: latency p99 (p50 in notes)`,
        value: median(runs.map((r) => r.p99)),
        unit: 'µs',
        stat: `median of ${reps}`,
        baseline: baseRuns.length
          ? { name: 'bare grpc-js p99', value: median(baseRuns.map((r) => r.p99)) }
          : undefined,
        target: s.lat,
        notes: `p50 ${median(runs.map((r) => r.p50))} µs`,
        ...check,
      });
      rows.push({
        name: `Check ${s.name}: agent CPU per check`,
        value: median(runs.map((r) => r.cpuUsPerCheck)),
        unit: 'µs',
        stat: `median of ${reps}`,
        baseline: baseRuns.length
          ? { name: 'bare grpc-js', value: median(baseRuns.map((r) => r.cpuUsPerCheck)) }
          : undefined,
        ...check,
      });
    }
    // grpc-js allocates a lot per call: a larger young generation (fewer scavenges) is a cheap,
    // measurable win; NODE_OPTIONS=--max-semi-space-size=64 gives it to `edgeban serve`
    await stopAgent(edge);
    await stopAgent(base);
    const tuned = await startAgent('edgeban', agentCpu, [SEMI_SPACE]);
    try {
      h2load(tuned.port, allowBody, 10, 2, loadCpu, tuned.proc.pid ?? 0);
      for (const streams of [10, 100]) {
        const runs: H2Result[] = [];
        for (let i = 0; i < reps; i++)
          runs.push(h2load(tuned.port, allowBody, streams, secs, loadCpu, tuned.proc.pid ?? 0));
        rows.push({
          name: `Check allowed, ${streams} streams, node ${SEMI_SPACE}: checks/s`,
          value: median(runs.map((r) => r.rate)),
          unit: 'checks/s',
          stat: `median of ${reps}`,
          target: '≥ 30,000 checks/s',
          notes: `p99 ${median(runs.map((r) => r.p99))} µs, p50 ${median(runs.map((r) => r.p50))} µs`,
          ...verdict(runs, allowLen, 'allow'),
        });
      }
    } finally {
      await stopAgent(tuned);
    }
  } finally {
    if (edge.proc.exitCode === null) await stopAgent(edge);
    if (base.proc.exitCode === null) await stopAgent(base);
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    bench: 'envoy',
    rows,
    params: {
      connections: 1,
      seconds: secs,
      repetitions: reps,
      agentPinnedToCpu: agentCpu,
      loadGenerator: 'h2load (nghttp2-client), one HTTP/2 connection',
      denyStatus: opts.denyStatus,
      requestBytes: allowFrame.length - 5,
    },
  };
}
