/**
 * edgeban's SPOA in a process of its own, for benchmarks that read its CPU time from /proc.
 * Bans a deterministic share of the storm's addresses (see storm-addresses.ts), prints
 * `READY <port>` on stdout, exits on SIGTERM. A 4th argument `metrics` turns the metrics on (the
 * per-NOTIFY latency histogram among them), as `edgeban serve` has them.
 */
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { SpoaServer } from '../../src/main/spoa/server.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { backgroundBans } from '../process.js';
import { addressBytes, isBanned, STORM_ADDRESSES } from './storm-addresses.js';

const port = Number(process.argv[2] ?? 0);
const bannedPercent = Number(process.argv[3] ?? 10);
const extraBans = Number(process.argv[4] ?? 100_000);
const withMetrics = process.argv[5] === 'metrics';
const table = new BanTable({ initialCapacity: 1 << 18 });
const until = Math.floor(Date.now() / 1000) + 3600;
const reason = table.reasonId('bench');
for (let i = 0; i < STORM_ADDRESSES; i++) {
  if (!isBanned(i, bannedPercent)) continue;
  const { bytes, family } = addressBytes(i);
  table.set(bytes, family, family === 4 ? 32 : 128, Kind.TEMP_BAN, until, 1, reason);
}
// background bans so lookups hit a realistically full table
backgroundBans(table, extraBans, until, reason);
const config = { ...defaultConfig().spoa, address: '127.0.0.1', port, max_clients: 10_000 };
const server = new SpoaServer({
  config,
  table,
  reasonText: (id) => table.reasonText(id),
  log: pino({ level: 'warn' }),
  metrics: withMetrics ? new Metrics({ defaultMetrics: false }) : undefined,
});
await server.listen();
process.stdout.write(`READY ${server.address?.port}\n`);
process.on('SIGTERM', () => {
  server.close(200).then(() => process.exit(0));
});
