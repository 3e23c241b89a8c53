import { App } from '../../src/main/app.js';
import type { Config } from '../../src/main/config/types.js';
import { Kind } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { testContext } from '../ingest/harness.js';
import { freePort } from './net.js';

/**
 * The whole app (App, as `edgeban serve` builds it) in this process on free loopback ports, no
 * database, fleet or metrics port: the proxies' servers answer from `app.core.table`, which the
 * test fills directly (scoped bans have no other way in until jails are wired).
 */
export async function startApp(mutate: (c: Config) => void = () => {}) {
  const ports = { spoa: await freePort(), http: await freePort(), envoy: await freePort() };
  const ctx = testContext((c) => {
    c.database.enabled = false;
    c.fleet.enabled = false;
    c.prometheus.enabled = false;
    c.spoa.address = '127.0.0.1';
    c.spoa.port = ports.spoa;
    c.nginx.address = '127.0.0.1';
    c.nginx.port = ports.http;
    c.envoy.address = '127.0.0.1';
    c.envoy.port = ports.envoy;
    mutate(c);
  });
  const app = new App(ctx);
  await app.start();
  const table = app.core.table;
  const now = () => Math.floor(Date.now() / 1000);
  /** Ban `ip` for `seconds`: for every service (`service` null) or for that service only. */
  const ban = (ip: string, service: string | null, seconds = 600) => {
    const a = parseIp(ip);
    const len = a.family === 4 ? 32 : 128;
    const reason = table.reasonId(service === null ? 'test ban' : `test ban (${service})`);
    if (service === null) table.set(a.bytes, a.family, len, Kind.TEMP_BAN, now() + seconds, 1, reason);
    else
      table.setScoped(table.services.register(service), a.bytes, a.family, len, now() + seconds, 1, reason);
  };
  return { app, ctx, ports, table, ban, stop: () => app.stop() };
}

export type AppHarness = Awaited<ReturnType<typeof startApp>>;
