/**
 * Fleet propagation (design.md "Benchmarks"): two nodes on a private PostgreSQL, each with its
 * engine, ban table and fleet bus; a ban made on node a until node b's table holds it. One ban
 * at a time (latency) and a burst (throughput). Baseline in the same run: a plain `SELECT 1`
 * round trip to the same server. Both nodes share this process (one event loop), so the figure
 * is the database path plus one loop turn on each side.
 *
 * `npm run bench fleet` (`-- --quick`: fewer bans).
 */
import pg from 'pg';
import pino from 'pino';
import { createCore } from '../src/main/core.js';
import { FleetBus } from '../src/main/fleet/bus.js';
import { fleetKey } from '../src/main/fleet/messages.js';
import { postgresConfig } from '../src/main/store/connect.js';
import { PostgresCluster, postgresBinDir } from '../test/helpers/postgres.js';
import type { BenchReport, BenchRow } from './run.js';

const silent = pino({ level: 'silent' });

function node(name: string, dsn: string) {
  const { engine } = createCore({ nodeId: name });
  return {
    engine,
    bus: new FleetBus({ dsn, channel: 'edgeban_fleet', key: fleetKey('bench'), engine, log: silent }),
  };
}

/** Reached only once every ban arrived on node b (waiting for one that does not throws). */
const arrivedAll = (n: number) => ({ verified: true, verification: `all ${n} bans applied on node b` });

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('fleet bench: timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  if (!postgresBinDir()) {
    return {
      bench: 'fleet',
      rows: [],
      skipped: 'PostgreSQL server not found: apt-get install postgresql',
    };
  }
  const singles = quick ? 200 : 1_000;
  const burst = quick ? 5_000 : 20_000;
  const cluster = await PostgresCluster.create();
  const rows: BenchRow[] = [];
  try {
    const dsn = await cluster.createDatabase('fleet');
    const a = node('a', dsn);
    const b = node('b', dsn);
    // arrival times on b, by target
    const arrived = new Map<string, number>();
    b.engine.onEvent((e) => {
      if (e.type === 'ban' && e.origin === 'fleet') arrived.set(e.record.target, performance.now());
    });
    a.bus.start();
    b.bus.start();
    await waitFor(() => a.bus.isConnected && b.bus.isConnected, 20_000);

    // baseline: a query round trip on a connection of its own
    const client = new pg.Client(postgresConfig(dsn));
    await client.connect();
    const rtt: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await client.query('SELECT 1');
      rtt.push(performance.now() - t0);
    }
    await client.end();
    rtt.sort((x, y) => x - y);

    // one ban at a time
    const lat: number[] = [];
    for (let i = 0; i < singles; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const t0 = performance.now();
      a.engine.ban(ip, { durationMs: 3_600_000 });
      await waitFor(() => arrived.has(ip), 5_000);
      lat.push((arrived.get(ip) ?? t0) - t0);
    }
    lat.sort((x, y) => x - y);
    rows.push({
      name: `fleet propagation, one ban at a time (${singles} bans; p99 ${pct(lat, 0.99).toFixed(2)} ms)`,
      value: pct(lat, 0.5),
      unit: 'ms (p50)',
      baseline: { name: 'SELECT 1 round trip p50', value: pct(rtt, 0.5) },
      ...arrivedAll(singles),
    });
    rows.push({
      name: 'fleet propagation, one ban at a time, p99',
      value: pct(lat, 0.99),
      unit: 'ms (p99)',
      ...arrivedAll(singles),
    });

    // a burst: every ban of one loop turn (a purge, a log storm)
    arrived.clear();
    const t0 = performance.now();
    for (let i = 0; i < burst; i++)
      a.engine.ban(`172.16.${(i >> 8) & 255}.${i & 255}`, { durationMs: 3_600_000 });
    await waitFor(() => arrived.size >= burst, 60_000);
    const secs = (performance.now() - t0) / 1000;
    rows.push({
      name: `fleet burst: ${burst} bans made at once, all applied on the other node`,
      value: burst / secs,
      unit: 'bans/s',
      notes: `last one after ${(secs * 1000).toFixed(0)} ms; ${a.bus.stats.sent} notifications in all`,
      ...arrivedAll(burst),
    });
    await a.bus.stop();
    await b.bus.stop();
  } finally {
    await cluster.destroy();
  }
  return { bench: 'fleet', rows, params: { singles, burst } };
}
