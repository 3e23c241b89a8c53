/**
 * The haproxy_map sink against a real HAProxy, and HAProxy end to end with it.
 *
 * Map sync (HAProxy 2.6, in-process engine and sink, unix stats socket): time until 100k bans
 * made one after the other are all in HAProxy's map (baseline: the same 100k as one whole-map
 * replacement on connect), and the lag of each batch while bans come at 10k/s (baseline: one
 * runtime API round trip). Every run is checked with `show map`.
 *
 * End to end (wrk -t 1, HAProxy nbthread 1, each of 2.6 and the 3.x of $EDGEBAN_HAPROXY3 if
 * any): each connection stands for one client (`set-src` from its source port, 100 addresses),
 * 10 of which are banned in edgeban and in the map. A refusal is `http-request return status 403`
 * rather than the examples' `deny`, which closes the connection on 3.x: a benchmark client that
 * reconnects would come back as another address (its source port changes), where a real one
 * keeps its own. Configurations, interleaved, in the same run:
 * no ban check at all (the ceiling), the SPOE asked on every request, and the recommended map +
 * per-session question (examples/haproxy/haproxy-session.cfg). Requests/s, p99, and the ratio to
 * the ceiling; the share of 403s is checked (about 10 %).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { defaultConfig } from '../src/main/config/defaults.js';
import { BanEngine } from '../src/main/engine/index.js';
import type { BanEvent, BanKind, ListQuery } from '../src/main/engine/types.js';
import { RuntimeConnection } from '../src/main/sinks/haproxy-map/runtime.js';
import { HaproxyMapSink } from '../src/main/sinks/haproxy-map/service.js';
import { BanTable } from '../src/shared/bantable/index.js';
import { atLeast, haproxy3, waitForPort } from '../test/helpers/haproxy.js';
import { freePort } from '../test/helpers/net.js';
import { findBinary } from '../test/helpers/peers.js';
import { cpuTicks } from './process.js';
import type { BenchReport, BenchRow } from './run.js';
import { wrk } from './wrk.js';

const EDGEBAN_BIN = join(import.meta.dirname, '..', '..', 'bin', 'edgeban.js');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : Number.NaN;
}

interface Hap {
  proc: ChildProcess;
  dir: string;
}

async function startHaproxy(
  bin: string,
  cfg: string,
  files: Record<string, string>,
  port: number,
  dir?: string,
): Promise<Hap> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'edgeban-hmap-bench-'));
  writeFileSync(join(d, 'haproxy.cfg'), cfg);
  for (const [n, c] of Object.entries(files)) writeFileSync(join(d, n), c);
  const proc = spawn(bin, ['-db', '-f', 'haproxy.cfg'], { cwd: d, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 5000, () => proc.exitCode !== null);
  return { proc, dir: d };
}

async function stopHaproxy(h: Hap): Promise<void> {
  if (h.proc.exitCode !== null) return;
  const done = new Promise((r) => h.proc.once('exit', r));
  h.proc.kill('SIGTERM');
  await done;
}

/** Entries in the map, counted from `show map` through a fresh connection. */
async function mapSize(sock: string, map: string): Promise<number> {
  const c = await RuntimeConnection.open({ path: sock }, 30_000);
  try {
    const out = await c.command(`show map ${map}`);
    let n = 0;
    for (let i = out.indexOf('0x'); i >= 0; i = out.indexOf('\n0x', i + 1)) n++;
    return n;
  } finally {
    c.close();
  }
}

function v4(i: number): string {
  return `${100 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

// ---------------------------------------------------------------------------------------------
// map sync

/**
 * The engine's side as the sink sees it: `list` for the reconcile, `onEvent` for the changes.
 * Bans are fed to the listener directly, so the figures are the sink's and HAProxy's (the
 * engine's own cost per ban is the bantable and engine benchmarks' business).
 */
function feed(engine?: BanEngine) {
  let listener: (e: BanEvent) => void = () => {};
  const empty = { total: 0, items: [] };
  return {
    source: {
      list: (kind: BanKind, q: ListQuery) => (engine ? engine.list(kind, q) : empty),
      onEvent: (l: (e: BanEvent) => void) => {
        listener = l;
        return () => {};
      },
    },
    ban: (target: string, now: number) =>
      listener({
        type: 'ban',
        record: {
          target,
          kind: 'temp',
          reason: 'bench',
          pattern: null,
          createdAt: now,
          expiresAt: now + 3_600_000,
          createdBy: 'bench',
          offences: 1,
          node: 'bench',
        },
      }),
  };
}

async function mapSync(bin: string, n: number, reps: number, lagSecs: number): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-hmap-sync-'));
  const sock = join(dir, 'admin.sock');
  const map = join(dir, 'edgeban.map');
  const port = await freePort();
  writeFileSync(map, '');
  const cfg = `global\n    nbthread 1\n    stats socket ${sock} level admin\n    stats timeout 1m\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:${port}\n    http-request deny if { src,map_ip(${map}) -m str banned blacklisted }\n    http-request return status 200\n`;
  const hap = await startHaproxy(bin, cfg, {}, port, dir);
  const log = pino({ level: 'silent' });
  const config = {
    ...defaultConfig().haproxy_map,
    enabled: true,
    sockets: [`unix:${sock}`],
    map,
    write_file: false,
  };
  const rows: BenchRow[] = [];
  const clear = async () => {
    const c = await RuntimeConnection.open({ path: sock }, 30_000);
    await c.command(`clear map ${map}`);
    c.close();
  };
  try {
    const incremental: number[] = [];
    const replace: number[] = [];
    const checks: string[] = [];
    // the replacement's bans, in a real engine (made before anything is timed)
    const engine = new BanEngine({
      table: new BanTable({ initialCapacity: 1 << 18 }),
      ...BanEngine.configOptions(defaultConfig().ban),
      nodeId: 'bench',
    });
    for (let i = 0; i < n; i++) engine.ban(v4(i), { durationMs: 3_600_000 });
    for (let rep = 0; rep < reps; rep++) {
      // (a) one by one, the sink already connected to an empty map
      let applied = 0;
      const f = feed();
      let sink = new HaproxyMapSink({
        config,
        engine: f.source,
        log,
        hooks: { onBatch: (k) => (applied += k) },
      });
      await sink.start();
      while (!sink.syncers[0].connected) await sleep(5);
      const t0 = performance.now();
      for (let i = 0; i < n; i += 1000) {
        const now = Date.now();
        for (let j = i; j < Math.min(n, i + 1000); j++) f.ban(v4(j), now);
        await new Promise((r) => setImmediate(r));
      }
      while (applied < n) await sleep(1);
      incremental.push(performance.now() - t0);
      await sink.stop();
      const inMap = await mapSize(sock, map);
      await clear();
      // (b) the same bans as one replacement, on connect
      let fullMs = -1;
      let fullN = 0;
      sink = new HaproxyMapSink({
        config,
        engine: feed(engine).source,
        log,
        hooks: {
          onFull: (k, ms) => {
            fullMs = ms;
            fullN = k;
          },
        },
      });
      await sink.start();
      while (fullMs < 0) await sleep(1);
      replace.push(fullMs);
      await sink.stop();
      const afterReplace = await mapSize(sock, map);
      await clear();
      if (inMap !== n || afterReplace !== n)
        checks.push(
          `run ${rep + 1}: one by one ${inMap}, replacement ${fullN} sent / ${afterReplace} in the map`,
        );
    }
    rows.push({
      name: `map sync: ${n / 1000}k bans one by one until all are in HAProxy`,
      value: median(incremental),
      unit: 'ms',
      baseline: {
        name: `the same ${n / 1000}k as one replacement (prepare/add @ver/commit)`,
        value: median(replace),
      },
      notes: `${reps} runs`,
      verified: checks.length === 0,
      verification: checks.length
        ? checks.join('; ')
        : `show map held all ${n} after each of the ${reps} runs, both ways`,
    });

    // (c) lag at 10k bans/s, the map file written too
    const lags: number[] = [];
    let applied = 0;
    const f = feed();
    const sink = new HaproxyMapSink({
      config: { ...config, write_file: true },
      engine: f.source,
      log,
      hooks: {
        onBatch: (k, ms) => {
          applied += k;
          for (let i = 0; i < k; i++) lags.push(ms);
        },
      },
    });
    await sink.start();
    while (!sink.syncers[0].connected) await sleep(5);
    const rtt: number[] = [];
    const c = await RuntimeConnection.open({ path: sock }, 5000);
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await c.command('show version');
      rtt.push(performance.now() - t);
    }
    c.close();
    const total = 10_000 * lagSecs;
    let made = 0;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        // as many as are due by now: 10 per ms
        const due = Math.min(total, Math.floor((performance.now() - start) * 10));
        const now = Date.now();
        for (; made < due; made++) f.ban(v4(made), now);
        if (made >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    const rate = total / ((performance.now() - start) / 1000);
    while (applied < total) await sleep(5);
    await sink.stop();
    const inMap = await mapSize(sock, map);
    const ok = inMap === total;
    const verification = `${total} bans made at ${Math.round(rate)}/s, ${inMap} in the map`;
    rows.push({
      name: 'map sync: lag at 10k bans/s (median over bans)',
      value: median(lags),
      unit: 'ms',
      baseline: { name: 'one runtime API round trip (show version)', value: median(rtt) },
      verified: ok,
      verification,
    });
    rows.push({
      name: 'map sync: lag at 10k bans/s (p99 over bans)',
      value: quantile(lags, 0.99),
      unit: 'ms',
      verified: ok,
      verification,
    });
  } finally {
    await stopHaproxy(hap);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// end to end

type Mode = 'ceiling' | 'per-request' | 'recommended';

function e2eConfig(mode: Mode, p: { web: number; agent: number }, dir: string, spop: boolean): string {
  const map = join(dir, 'edgeban.map');
  const checks: Record<Mode, string> = {
    ceiling: '',
    'per-request': `    filter spoe engine e config ${join(dir, 'spoe.conf')}
    http-request send-spoe-group e g
    http-request return status 403 if { var(sess.e.banned) -m int eq 1 }
`,
    recommended: `    filter spoe engine e config ${join(dir, 'spoe.conf')}
    http-request return status 403 if { src,map_ip(${map}) -m str banned blacklisted }
    http-request set-var(txn.eb_ask) bool(true) if !{ var(sess.eb_at) -m found }
    http-request set-var(txn.eb_ask) bool(true) if { date,sub(sess.eb_at) gt 60 }
    http-request send-spoe-group e g if { var(txn.eb_ask) -m bool }
    http-request set-var(sess.eb_at) date if { var(txn.eb_ask) -m bool } !{ var(txn.e.error) -m found }
    http-request return status 403 if { var(sess.e.banned) -m int eq 1 }
`,
  };
  return `global
    nbthread 1
    maxconn 4000
    stats socket ${join(dir, `admin-${mode}.sock`)} level admin
defaults
    mode http
    timeout connect 2s
    timeout client  30s
    timeout server  30s
frontend fe
    bind 127.0.0.1:${p.web}
    # each connection is one client: 10.0.0.(source port mod 100)
    http-request set-src src_port,mod(100),add(167772160)
${checks[mode]}    http-request return status 200 content-type text/plain string "ok\\n"
backend spoa
    mode ${spop ? 'spop' : 'tcp'}
    timeout connect 2s
    timeout server 60s
    server a1 127.0.0.1:${p.agent} maxconn 1000
`;
}

function spoeConf(spop: boolean): string {
  return `[e]
spoe-agent e-agent
    groups g
    option var-prefix e
    option set-on-error error
    register-var-names banned
${spop ? '' : '    no option send-frag-payload\n'}    timeout hello 2s
    timeout idle 30s
    timeout processing 500ms
    use-backend spoa
spoe-message check-client-ip
    args src=src
spoe-group g
    messages check-client-ip
`;
}

async function startEdgeban(
  dir: string,
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; http: number }> {
  const http = await freePort();
  const proc = spawn(process.execPath, [EDGEBAN_BIN, 'serve'], {
    cwd: dir,
    env: {
      ...process.env,
      FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
      FAIL2BAN_PROMETHEUS_ENABLED: 'false',
      FAIL2BAN_ENVOY_ENABLED: 'false',
      FAIL2BAN_NGINX_ADDRESS: '127.0.0.1',
      FAIL2BAN_NGINX_PORT: String(http),
      FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${await freePort()}`,
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(http, 15_000, () => proc.exitCode !== null);
  return { proc, http };
}

async function endToEnd(
  label: string,
  bin: string,
  spop: boolean,
  secs: number,
  reps: number,
): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-hmap-e2e-'));
  const p = { web: await freePort(), agent: await freePort() };
  const map = join(dir, 'edgeban.map');
  writeFileSync(map, '');
  writeFileSync(join(dir, 'spoe.conf'), spoeConf(spop));
  const modes: Mode[] = ['ceiling', 'per-request', 'recommended'];
  const edge = await startEdgeban(dir, {
    FAIL2BAN_SPOA_PORT: String(p.agent),
    FAIL2BAN_HAPROXY_MAP_ENABLED: 'true',
    // the recommended configuration's HAProxy; the socket appears when it starts
    FAIL2BAN_HAPROXY_MAP_SOCKETS: `unix:${join(dir, 'admin-recommended.sock')}`,
    FAIL2BAN_HAPROXY_MAP_MAP: map,
  });
  type Runs = { rps: number[]; p99: number[]; share: number[]; hapUs: number[]; agentUs: number[] };
  const runs = (): Runs => ({ rps: [], p99: [], share: [], hapUs: [], agentUs: [] });
  const results: Record<Mode, Runs> = { ceiling: runs(), 'per-request': runs(), recommended: runs() };
  try {
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`http://127.0.0.1:${edge.http}/api/ban`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ip_address: `10.0.0.${i * 10}`, duration: '1h' }),
      });
      if (r.status !== 200) throw new Error(`ban failed: HTTP ${r.status}`);
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const mode of modes) {
        const hap = await startHaproxy(bin, e2eConfig(mode, p, dir, spop), {}, p.web, dir);
        try {
          if (mode === 'recommended') {
            const sock = join(dir, 'admin-recommended.sock');
            for (let t = 0; t < 200 && (await mapSize(sock, map).catch(() => 0)) < 10; t++) await sleep(50);
          }
          await wrk(`http://127.0.0.1:${p.web}/`, 100, 1);
          const h0 = cpuTicks(hap.proc.pid ?? 0);
          const a0 = cpuTicks(edge.proc.pid ?? 0);
          const r = await wrk(`http://127.0.0.1:${p.web}/`, 100, secs);
          // CPU per request: what bounds HAProxy's throughput on a core of its own, and far less
          // disturbed than requests/s by other work on a shared machine
          results[mode].hapUs.push(((cpuTicks(hap.proc.pid ?? 0) - h0) * 10_000) / r.requests);
          results[mode].agentUs.push(((cpuTicks(edge.proc.pid ?? 0) - a0) * 10_000) / r.requests);
          results[mode].rps.push(r.rps);
          results[mode].p99.push(r.p99ms);
          results[mode].share.push(r.requests ? r.non2xx / r.requests : 0);
        } finally {
          await stopHaproxy(hap);
        }
      }
    }
  } finally {
    edge.proc.kill('SIGTERM');
  }
  const rows: BenchRow[] = [];
  const ceiling = median(results.ceiling.rps);
  for (const mode of modes) {
    const share = median(results[mode].share);
    const ok = mode === 'ceiling' ? share === 0 : share > 0.03 && share < 0.3;
    const verification =
      mode === 'ceiling'
        ? `no ban check: ${(share * 100).toFixed(1)} % refused (expected 0)`
        : `${(share * 100).toFixed(1)} % of requests refused with 10 % of clients banned`;
    const what = {
      ceiling: 'no ban check (ceiling)',
      'per-request': 'SPOE on every request',
      recommended: 'map + per-session SPOE (recommended)',
    }[mode];
    rows.push({
      name: `${label} e2e, ${what}: requests/s`,
      value: median(results[mode].rps),
      unit: 'req/s',
      baseline: mode === 'ceiling' ? undefined : { name: 'ceiling', value: ceiling },
      target: mode === 'recommended' ? '≥ 0.9 of the ceiling' : undefined,
      notes:
        mode === 'ceiling'
          ? `${reps} runs of ${secs} s, 100 conns`
          : `ratio to the ceiling ${(median(results[mode].rps) / ceiling).toFixed(2)}`,
      verified: ok,
      verification,
    });
    const hapUs = median(results[mode].hapUs);
    const ceilingUs = median(results.ceiling.hapUs);
    rows.push({
      name: `${label} e2e, ${what}: HAProxy CPU per request`,
      value: hapUs,
      unit: 'µs',
      baseline: mode === 'ceiling' ? undefined : { name: 'ceiling', value: ceilingUs },
      target: mode === 'recommended' ? '≥ 0.9 of the ceiling' : undefined,
      notes:
        mode === 'ceiling'
          ? undefined
          : `throughput ratio on a core of HAProxy's own: ${(ceilingUs / hapUs).toFixed(2)}; agent ${median(results[mode].agentUs).toFixed(1)} µs per request`,
      verified: ok,
      verification,
    });
    rows.push({
      name: `${label} e2e, ${what}: p99`,
      value: median(results[mode].p99),
      unit: 'ms',
      baseline: mode === 'ceiling' ? undefined : { name: 'ceiling', value: median(results.ceiling.p99) },
      verified: ok,
      verification,
    });
  }
  return rows;
}

export async function run(args: string[]): Promise<BenchReport> {
  const hap = findBinary('haproxy');
  if (!hap || !findBinary('wrk'))
    return {
      bench: 'haproxy-map',
      rows: [],
      skipped: 'haproxy or wrk not found: apt-get install haproxy wrk',
    };
  const quick = args.includes('--quick');
  const reps = quick ? 1 : 5;
  const secs = quick ? 3 : 4;
  const n = quick ? 20_000 : 100_000;
  const rows: BenchRow[] = [];
  rows.push(...(await mapSync(hap, n, reps, quick ? 2 : 5)));
  rows.push(...(await endToEnd('HAProxy 2.6', hap, false, secs, reps)));
  const h3 = haproxy3();
  if (typeof h3 !== 'string')
    rows.push(...(await endToEnd(`HAProxy ${h3.text}`, h3.bin, atLeast(h3, 3, 1), secs, reps)));
  return {
    bench: 'haproxy-map',
    rows,
    params: {
      reps,
      secs,
      bans: n,
      haproxy: 'nbthread 1',
      wrk: '-t 1 -c 100',
      haproxy3: typeof h3 === 'string' ? h3 : h3.text,
    },
  };
}
