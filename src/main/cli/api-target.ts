import { EdgebanError } from '../../shared/errors.js';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import type { ApiTarget } from './api-client.js';

/** What the command line said about the API (flags, then EDGEBAN_* variables). */
export interface TargetFlags {
  url?: string;
  user?: string;
  password?: string;
  token?: string;
  config?: string;
}

/** The URL a local client reaches `nginx.address:nginx.port` at (a wildcard address is loopback). */
export function apiUrlOf(nginx: Pick<Config['nginx'], 'address' | 'port'>): string {
  let host = nginx.address;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '::1';
  host = host.replace(/^\[|\]$/g, '');
  return `http://${host.includes(':') ? `[${host}]` : host}:${nginx.port}`;
}

/**
 * Where and as whom the client talks to the API. Flags win, then `EDGEBAN_URL` /
 * `EDGEBAN_TOKEN` / `EDGEBAN_USER` / `EDGEBAN_PASSWORD`, then the configuration `serve` would
 * use (`--config`, then the same search path, with its FAIL2BAN_* overrides): `nginx.address`
 * and `nginx.port`, the first of `api.tokens`, or the Basic auth user when it is enabled.
 */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  const url = flags.url ?? (env.EDGEBAN_URL || undefined);
  const token = flags.token ?? (env.EDGEBAN_TOKEN || undefined);
  const user = flags.user ?? (env.EDGEBAN_USER || undefined);
  const password = flags.password ?? (env.EDGEBAN_PASSWORD || undefined);
  const credentials = token !== undefined || user !== undefined;
  // nothing left to learn from the file: do not make a broken one block an explicit call
  if (url !== undefined && credentials && flags.config === undefined) return { url, token, user, password };
  let config: Config;
  try {
    // the client reads what it needs and leaves judging the rest to check-config
    config = loadConfig({ path: flags.config, env, allowUnknown: true }).config;
  } catch (err) {
    if (err instanceof ConfigError)
      throw new EdgebanError(
        'E_CONFIG',
        `cannot read the configuration for the API address and credentials:\n${err.problems
          .map(formatProblem)
          .join('\n')}\n(edgeban check-config shows every problem; --url and --token skip the file)`,
      );
    throw err;
  }
  const out: ApiTarget = { url: url ?? apiUrlOf(config.nginx) };
  if (credentials) Object.assign(out, { token, user, password });
  else if (config.api.tokens.length > 0) out.token = config.api.tokens[0];
  else if (config.api.basic_auth.enabled) {
    const b = config.api.basic_auth;
    const first = Object.entries(b.users)[0];
    if (b.username) Object.assign(out, { user: b.username, password: b.password });
    else if (first) Object.assign(out, { user: first[0], password: first[1] });
  }
  return out;
}
