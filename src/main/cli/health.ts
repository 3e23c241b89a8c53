import { connect } from 'node:net';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import { apiUrlOf } from './api-target.js';
import { configOptions } from './options.js';

export const HEALTH_USAGE = `usage: edgeban health [--config PATH]

Asks the local edgeban whether it is ready: GET /ready on nginx.address:nginx.port of the
configuration serve uses (with its FAIL2BAN_* overrides), and prints the subsystems' states.
With nginx.enabled false, a TCP connect to the SPOA (or Envoy) port instead.
Exit status: 0 ready (or degraded: serving without its database), 1 not ready, 2 error.
The image's HEALTHCHECK runs it.
`;

const TIMEOUT_MS = 2500;

function tcpProbe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: TIMEOUT_MS });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
  });
}

function local(address: string): string {
  return address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
}

/** `edgeban health`: 0 ready, 1 not, 2 when it cannot tell (bad config). */
export async function healthCommand(argv: string[]): Promise<number> {
  const opts = configOptions(argv);
  if (opts.help) {
    console.log(HEALTH_USAGE);
    return 0;
  }
  let config: ReturnType<typeof loadConfig>['config'];
  try {
    config = loadConfig({ path: opts.config, allowUnknown: true }).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) console.error(`edgeban: config error: ${formatProblem(p)}`);
    return 2;
  }
  if (!config.nginx.enabled) {
    const [name, c] = config.spoa.enabled ? ['spoa', config.spoa] : ['envoy', config.envoy];
    const ok = await tcpProbe(local(c.address), c.port);
    console.log(`${name} ${local(c.address)}:${c.port}: ${ok ? 'accepting connections' : 'not answering'}`);
    return ok ? 0 : 1;
  }
  const url = `${apiUrlOf(config.nginx)}/ready`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    console.log(await res.text());
    return res.status === 200 ? 0 : 1;
  } catch (err) {
    console.error(`edgeban: ${url}: ${(err as Error).message}`);
    return 1;
  }
}
