/**
 * The ext_authz server in a process of its own, for the Envoy benchmark: `edgeban` runs
 * edgeban's EnvoyServer over a table of 100,000 bans (plus the benchmark's banned address);
 * `baseline` is a bare grpc-js server on the same method answering a constant OK without
 * decoding anything (what grpc-js costs by itself). Prints `READY <port>`, exits on SIGTERM.
 */
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { checkOptions } from '../../src/main/envoy/check.js';
import { CHECK_PATH } from '../../src/main/envoy/proto.js';
import { EnvoyServer, GRPC_SERVER_OPTIONS } from '../../src/main/envoy/server.js';
import { encodeOk } from '../../src/main/envoy/wire.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { backgroundBans } from '../process.js';

export const BANNED_SOURCE = '198.51.100.45';
export const ALLOWED_SOURCE = '192.0.2.10';

const mode = process.argv[2] ?? 'edgeban';

if (mode === 'baseline') {
  const ok = encodeOk(null);
  const server = new Server(GRPC_SERVER_OPTIONS);
  const id = (b: Buffer) => b;
  const def: ServiceDefinition = {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  };
  server.addService(def, { Check: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, ok) });
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`READY ${port}\n`);
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
} else {
  const table = new BanTable({ initialCapacity: 1 << 18 });
  const until = Math.floor(Date.now() / 1000) + 3600;
  const reason = table.reasonId('bench');
  backgroundBans(table, 100_000, until, reason);
  const a = parseIp(BANNED_SOURCE);
  table.set(a.bytes, 4, 32, Kind.TEMP_BAN, until, 1, reason);
  const config = defaultConfig();
  config.envoy = { ...config.envoy, address: '127.0.0.1', port: 0 };
  const server = new EnvoyServer({
    config: config.envoy,
    check: checkOptions(config),
    table,
    reasonText: (id) => table.reasonText(id),
    log: pino({ level: 'warn' }),
    // as in production: the request counters and the duration histogram are kept
    metrics: new Metrics({ defaultMetrics: false }),
    announceMs: 0,
  });
  await server.listen();
  process.stdout.write(`READY ${server.port}\n`);
  process.on('SIGTERM', () => {
    server.close().then(() => process.exit(0));
  });
}
