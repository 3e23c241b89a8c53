/**
 * Fleet-wide counting: two nodes (engine, ban table, fleet bus, counting) on a private
 * PostgreSQL, in one process. (1) The bus traffic node a sends while a storm of failures of
 * distinct addresses (100k failures/s, 1M addresses) goes through its engine for a bounded time:
 * messages/s and bytes/s, the median over the storm's seconds, against the bound
 * fleet.counting_max_entries sets. (2) The time from the deciding failure on node a (four counted
 * on node b before it, summed across) to the ban in node b's table, p50/p99, quiet and under the
 * storm. Both nodes share one event loop: under the storm node b waits for node a's turns too.
 *
 * `npm run bench -- fleet-counting` (`--quick`: shorter storm, fewer trials). Run only when named.
 */
import pino from 'pino';
import { defaultConfig } from '../src/main/config/defaults.js';
import { createCore } from '../src/main/core.js';
import { FleetBus } from '../src/main/fleet/bus.js';
import { FleetCounting } from '../src/main/fleet/counting.js';
import { fleetKey } from '../src/main/fleet/messages.js';
import { PostgresCluster, postgresBinDir } from '../test/helpers/postgres.js';
import type { BenchReport, BenchRow } from './run.js';

const silent = pino({ level: 'silent' });
const key = fleetKey('bench');
const INTERVAL_MS = 250;
const MAX_ENTRIES = 2000;
const RATE = 100_000;
const DISTINCT = 1_000_000;

function node(name: string, dsn: string) {
  const config = defaultConfig();
  config.ban.max_attempts = 5;
  config.ban.ignore_ips = [];
  const { engine, table } = createCore({ config, nodeId: name });
  const bus = new FleetBus({ dsn, channel: 'edgeban_fleet', key, engine, log: silent });
  const counting = new FleetCounting({
    engine,
    node: name,
    bus,
    channel: 'edgeban_fleet',
    key,
    intervalMs: INTERVAL_MS,
    maxEntries: MAX_ENTRIES,
    log: silent,
  });
  return { engine, table, bus, counting };
}

type Node = ReturnType<typeof node>;

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (xs: number[]) =>
  pct(
    [...xs].sort((x, y) => x - y),
    0.5,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`fleet-counting bench: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Failures of distinct 10.x addresses through `a`'s engine at RATE per second until stopped. */
function storm(a: Node): { stop: () => Promise<number> } {
  const bytes = new Uint8Array(4);
  let sent = 0;
  let running = true;
  const t0 = performance.now();
  const done = (async () => {
    while (running) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
      // at most 2 ms of failures per turn: the bus and node b get their turns
      const end = Math.min(due, sent + RATE / 500);
      const now = Date.now();
      for (; sent < end; sent++) {
        const i = sent % DISTINCT;
        bytes[0] = 10;
        bytes[1] = (i >>> 16) & 255;
        bytes[2] = (i >>> 8) & 255;
        bytes[3] = i & 255;
        a.engine.recordFailure(bytes, 4, 'storm', now);
      }
      await new Promise((r) => setImmediate(r));
    }
    return sent;
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
  };
}

/**
 * One trial: four failures of a fresh address on node b, summed to node a, then the deciding
 * fifth on node a; the time until node b's table bans it.
 */
async function trial(a: Node, b: Node, ip: string, bannedOnB: Map<string, number>): Promise<number> {
  const parts = ip.split('.').map(Number);
  const bytes = Uint8Array.from(parts);
  for (let i = 0; i < 4; i++) b.engine.recordFailure(bytes, 4, 'trial', Date.now());
  await waitFor(() => a.engine.status(ip).failures >= 4, 10_000, `b's four failures of ${ip} on a`);
  const t0 = performance.now();
  a.engine.recordFailure(bytes, 4, 'trial', Date.now());
  await waitFor(() => bannedOnB.has(ip), 10_000, `the ban of ${ip} on b`);
  return (bannedOnB.get(ip) ?? t0) - t0;
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  if (!postgresBinDir())
    return {
      bench: 'fleet-counting',
      rows: [],
      skipped: 'PostgreSQL server not found: apt-get install postgresql',
    };
  const stormSeconds = quick ? 3 : 10;
  const trials = quick ? 50 : 200;
  const cluster = await PostgresCluster.create();
  const rows: BenchRow[] = [];
  try {
    const dsn = await cluster.createDatabase('counting');
    const a = node('a', dsn);
    const b = node('b', dsn);
    const bannedOnB = new Map<string, number>();
    b.engine.onEvent((e) => {
      if (e.type === 'ban') bannedOnB.set(e.record.target, performance.now());
    });
    for (const n of [a, b]) {
      n.counting.start();
      n.bus.start();
    }
    await waitFor(() => a.bus.isConnected && b.bus.isConnected, 20_000, 'the fleet connections');
    await sleep(200);

    // (2) quiet
    const quiet: number[] = [];
    for (let i = 0; i < trials; i++) quiet.push(await trial(a, b, `192.168.${i >> 8}.${i & 255}`, bannedOnB));
    quiet.sort((x, y) => x - y);

    // (1) the storm, with trials along
    const before = { ...a.counting.stats };
    const perSecond: { messages: number; bytes: number; entries: number; dropped: number }[] = [];
    const s = storm(a);
    const t0 = performance.now();
    let last = { ...a.counting.stats };
    let nextSecond = t0 + 1000;
    const stormed: number[] = [];
    let k = 0;
    while (performance.now() - t0 < stormSeconds * 1000) {
      stormed.push(await trial(a, b, `172.20.${k >> 8}.${k & 255}`, bannedOnB));
      k++;
      if (performance.now() >= nextSecond) {
        const now = { ...a.counting.stats };
        const secs = (performance.now() - (nextSecond - 1000)) / 1000;
        perSecond.push({
          messages: (now.sentMessages - last.sentMessages) / secs,
          bytes: (now.sentBytes - last.sentBytes) / secs,
          entries: (now.sentEntries - last.sentEntries) / secs,
          dropped: (now.dropped - last.dropped) / secs,
        });
        last = now;
        nextSecond = performance.now() + 1000;
      }
      await sleep(20);
    }
    const failures = await s.stop();
    const elapsed = (performance.now() - t0) / 1000;
    await sleep(2 * INTERVAL_MS);
    stormed.sort((x, y) => x - y);
    const st = a.counting.stats;
    const offered = failures / elapsed;
    const bound = Math.ceil((MAX_ENTRIES * 48) / 7800) * (1000 / INTERVAL_MS);
    const verified = b.counting.stats.rejected === 0 && b.counting.stats.receivedEntries > 0;
    const verification = `b received ${b.counting.stats.receivedEntries} sums, refused ${b.counting.stats.rejected} messages; every trial banned on b`;
    rows.push({
      name: `counting traffic from node a under a storm of ${Math.round(offered).toLocaleString('en-US')} failures/s of ${DISTINCT.toLocaleString('en-US')} addresses (${elapsed.toFixed(1)} s; ${MAX_ENTRIES} sums per ${INTERVAL_MS} ms at most)`,
      value: median(perSecond.map((p) => p.messages)),
      unit: 'messages/s (median of seconds)',
      baseline: { name: 'bound: messages/s at most', value: bound },
      verified,
      verification,
    });
    rows.push({
      name: 'counting traffic under the storm, bytes',
      value: median(perSecond.map((p) => p.bytes)),
      unit: 'bytes/s (median of seconds)',
      baseline: { name: 'one 30-byte entry per failure would be', value: offered * 30 },
      notes: `sums sent ${Math.round(median(perSecond.map((p) => p.entries)))}/s, dropped ${Math.round(median(perSecond.map((p) => p.dropped)))}/s (medians); ${st.sentMessages - before.sentMessages} messages in all`,
      verified,
      verification,
    });
    rows.push({
      name: `deciding failure on node a to the ban on node b, quiet (${trials} trials; p99 ${pct(quiet, 0.99).toFixed(2)} ms)`,
      value: pct(quiet, 0.5),
      unit: 'ms (p50)',
      verified: true,
      verification: `all ${trials} addresses banned on b`,
    });
    rows.push({
      name: `deciding failure on node a to the ban on node b, under the storm (${stormed.length} trials; p99 ${pct(stormed, 0.99).toFixed(2)} ms)`,
      value: pct(stormed, 0.5),
      unit: 'ms (p50)',
      baseline: { name: 'quiet p50', value: pct(quiet, 0.5) },
      verified: true,
      verification: `all ${stormed.length} addresses banned on b`,
    });
    for (const n of [a, b]) {
      await n.counting.stop();
      await n.bus.stop();
      n.engine.stop();
    }
  } finally {
    await cluster.destroy();
  }
  return {
    bench: 'fleet-counting',
    rows,
    params: {
      stormSeconds,
      trials,
      rate: RATE,
      distinct: DISTINCT,
      intervalMs: INTERVAL_MS,
      maxEntries: MAX_ENTRIES,
    },
  };
}
