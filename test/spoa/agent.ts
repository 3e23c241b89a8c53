import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { SpoaConfig } from '../../src/main/config/types.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { SpoaServer } from '../../src/main/spoa/server.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { freePort } from '../helpers/net.js';

/** An in-process agent on a free loopback port with its own table and metrics. */
export async function startAgent(overrides: Partial<SpoaConfig> = {}, port?: number) {
  const table = new BanTable();
  const metrics = new Metrics({ defaultMetrics: false });
  const config: SpoaConfig = {
    ...defaultConfig().spoa,
    address: '127.0.0.1',
    port: port ?? (await freePort()),
    ...overrides,
  };
  const server = new SpoaServer({
    config,
    table,
    services: table.services,
    reasonText: (id) => table.reasonText(id),
    log: pino({ level: 'silent' }),
    metrics,
  });
  await server.listen();
  const ban = (ip: string, seconds = 600, reason = 'test') => {
    const a = parseIp(ip);
    table.set(
      a.bytes,
      a.family,
      a.family === 4 ? 32 : 128,
      Kind.TEMP_BAN,
      Math.floor(Date.now() / 1000) + seconds,
      1,
      table.reasonId(reason),
    );
  };
  const unban = (ip: string) => {
    const a = parseIp(ip);
    table.delete(a.bytes, a.family, a.family === 4 ? 32 : 128, Kind.TEMP_BAN);
  };
  return { server, table, metrics, config, port: config.port, ban, unban };
}
