import { existsSync, readFileSync } from 'node:fs';
import type { Config } from './config/types.js';
import type { Logger } from './log/logger.js';
import { dialectOf, mysqlConfig, postgresConfig, sqlitePath } from './store/connect.js';

/** Where the database is, for the log: the file for SQLite, host/port/database (no password) otherwise. */
export function databaseLocation(cfg: Config['database']): string {
  try {
    const d = dialectOf(cfg.driver);
    if (d === 'sqlite') return `SQLite ${sqlitePath(cfg.dsn)}`;
    const c = d === 'postgres' ? postgresConfig(cfg.dsn) : mysqlConfig(cfg.dsn);
    const where =
      'socketPath' in c && c.socketPath
        ? c.socketPath
        : `${c.host ?? 'localhost'}${c.port ? `:${c.port}` : ''}`;
    return `${d === 'postgres' ? 'PostgreSQL' : 'MySQL'} ${where}/${c.database ?? ''}${c.user ? ` as ${c.user}` : ''}`;
  } catch (err) {
    return `unusable (${(err as Error).message})`;
  }
}

/** One line per listener once it serves, with its address and port. */
export function logListening(
  log: Logger,
  service: string,
  config: Config,
  syslogPorts: () => { host: string; udp: number; tcp: number },
): void {
  switch (service) {
    case 'spoa':
      log.info(
        { listener: 'spoa', address: config.spoa.address, port: config.spoa.port },
        `SPOA (HAProxy agent) listening on ${hostPort(config.spoa.address, config.spoa.port)}`,
      );
      break;
    case 'envoy':
      log.info(
        { listener: 'envoy', address: config.envoy.address, port: config.envoy.port },
        `Envoy ext_authz (gRPC) listening on ${hostPort(config.envoy.address, config.envoy.port)}`,
      );
      break;
    case 'metrics': {
      const p = config.prometheus;
      log.info(
        { listener: 'metrics', address: p.address, port: p.port, path: p.path },
        `metrics listening on ${hostPort(p.address, p.port)}${p.path}`,
      );
      break;
    }
    case 'syslog': {
      const s = syslogPorts();
      const parts = [
        s.udp ? `udp ${hostPort(s.host, s.udp)}` : '',
        s.tcp ? `tcp ${hostPort(s.host, s.tcp)}` : '',
      ]
        .filter((x) => x !== '')
        .join(', ');
      log.info(
        { listener: 'syslog', address: s.host, udp: s.udp || undefined, tcp: s.tcp || undefined },
        `syslog listening on ${parts}`,
      );
      break;
    }
    case 'store':
      log.info(
        { database: config.database.enabled ? databaseLocation(config.database) : null },
        config.database.enabled
          ? `database: ${databaseLocation(config.database)}`
          : 'database disabled: bans live in memory only',
      );
      break;
    default:
      break;
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether this process runs in a container (Docker, Podman, or a container cgroup). */
export function inContainer(read: (p: string) => string | null = readText): boolean {
  if (existsSync('/.dockerenv') || existsSync('/run/.containerenv')) return true;
  const cg = read('/proc/1/cgroup') ?? '';
  return /docker|containerd|kubepods|libpod|lxc/.test(cg);
}

function readText(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function onlyLoopback(cidrs: string[]): boolean {
  return cidrs.every((c) => c.startsWith('127.') || c === '::1/128' || c === '::1');
}

/**
 * Keys whose loopback-only default never matches inside a container (the peers are other
 * containers or the host, reached through the bridge): said once at start.
 */
export function loopbackOnlyKeys(config: Config): string[] {
  const out: string[] = [];
  if (onlyLoopback(config.syslog.allowed_sources)) out.push('syslog.allowed_sources');
  if (config.nginx.enabled && onlyLoopback(config.nginx.trusted_proxies)) out.push('nginx.trusted_proxies');
  if (config.envoy.enabled && config.envoy.trust_headers && onlyLoopback(config.envoy.trusted_proxies))
    out.push('envoy.trusted_proxies');
  if (config.api.enabled && config.api.allowed_ips.length > 0 && onlyLoopback(config.api.allowed_ips))
    out.push('api.allowed_ips');
  return out;
}

export function containerHint(log: Logger, config: Config, container = inContainer()): void {
  if (!container) return;
  const keys = loopbackOnlyKeys(config);
  if (keys.length === 0) return;
  const env = keys.map((k) => `FAIL2BAN_${k.replace(/\./g, '_').toUpperCase()}`);
  log.warn(
    { container: true, keys },
    `running in a container, but ${keys.join(', ')} trust only loopback, which other containers and the host never are: set them (${env.join(', ')}) to your networks`,
  );
}
