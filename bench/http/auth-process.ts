/**
 * edgeban's HTTP service (/auth, /health, API) in a process of its own, for benchmarks that read
 * its CPU time from /proc. The table holds 100k background bans plus every tenth address of
 * 10.77.0.0/16 (the addresses the wrk script sends). Prints `READY <port>`, exits on SIGTERM.
 */
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import { HttpService } from '../../src/main/http/server.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { Kind } from '../../src/shared/bantable/index.js';
import { backgroundBans } from '../process.js';

const config = defaultConfig();
config.nginx.address = '127.0.0.1';
config.nginx.port = Number(process.argv[2] ?? 0);
const log = pino({ level: 'warn' });
const metrics = new Metrics({ defaultMetrics: false });
const { table, engine } = createCore({
  config,
  nodeId: 'bench',
  initialCapacity: 1 << 18,
  engine: { ignoreIps: [], ipv6Prefix: 64, maxTracked: 100_000 },
  log,
  metrics,
});
const until = Math.floor(Date.now() / 1000) + 3600;
const reason = table.reasonId('bench');
backgroundBans(table, 100_000, until, reason);
const b = new Uint8Array(4);
for (let i = 0; i < 65536; i += 10) {
  b[0] = 10;
  b[1] = 77;
  b[2] = i >>> 8;
  b[3] = i & 255;
  table.set(b, 4, 32, Kind.TEMP_BAN, until, 1, reason);
}
const svc = new HttpService({ config, configPath: null, log, metrics }, { table, engine, store: () => null });
await svc.start();
const addr = svc.app.server.address();
process.stdout.write(`READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
process.on('SIGTERM', () => {
  void svc.stop().then(() => process.exit(0));
});
