import type { Config } from './config/types.js';
import type { DatabaseStatus } from './store/types.js';

/** Where a subsystem is in its life (App's Subsystem entries keep it). */
export type ServiceState = 'starting' | 'up' | 'stopping' | 'stopped';

export interface ReadinessInput {
  config: Config;
  /** The services App runs, by name, with their state. */
  services: ReadonlyMap<string, ServiceState>;
  /** The store's status, or null when database.enabled is false. */
  database: DatabaseStatus | null;
  /** Whether the persisted bans are loaded. */
  restored: boolean;
  syslog: { udp: number; tcp: number; lines: number; rejected: number; lastLineAt: number | null };
}

export interface ReadinessReport {
  /** 200 when every listener serves, 503 while starting or stopping. */
  httpStatus: number;
  body: Record<string, unknown>;
}

const LISTENERS: [service: string, label: string, enabled: (c: Config) => boolean][] = [
  ['spoa', 'spoa', (c) => c.spoa.enabled],
  ['envoy', 'envoy', (c) => c.envoy.enabled],
  ['http', 'http', (c) => c.nginx.enabled],
  ['metrics', 'metrics', (c) => c.prometheus.enabled],
  ['syslog', 'syslog', () => true],
];

/**
 * `/ready`: each subsystem's state. Ready (200) once every enabled listener serves; a database
 * that is down makes it `degraded`, still 200, because lookups never wait for the database.
 */
export function readinessReport(r: ReadinessInput, now = Date.now()): ReadinessReport {
  const checks: Record<string, unknown> = {};
  let allUp = true;
  for (const [service, label, enabled] of LISTENERS) {
    if (!enabled(r.config)) {
      checks[label] = { state: 'disabled' };
      continue;
    }
    const s = r.services.get(service) ?? 'starting';
    if (s !== 'up') allUp = false;
    checks[label] = { state: s === 'up' ? 'listening' : s };
  }
  const syslog = checks.syslog as Record<string, unknown>;
  if (syslog.state === 'listening') {
    if (r.syslog.udp) syslog.udp_port = r.syslog.udp;
    if (r.syslog.tcp) syslog.tcp_port = r.syslog.tcp;
    syslog.lines = r.syslog.lines;
    syslog.rejected = r.syslog.rejected;
    syslog.last_line_seconds_ago =
      r.syslog.lastLineAt === null ? null : Math.round((now - r.syslog.lastLineAt) / 1000);
  }
  let degraded = false;
  if (r.database === null) checks.database = { state: 'disabled' };
  else {
    const up = r.database.connected;
    if (!up) degraded = true;
    checks.database = {
      state: up ? 'up' : 'down',
      driver: r.database.driver,
      restored: r.restored,
      pending_writes: r.database.pending_writes,
    };
  }
  const stopping = [...r.services.values()].some((s) => s === 'stopping' || s === 'stopped');
  const status = stopping ? 'stopping' : !allUp ? 'starting' : degraded ? 'degraded' : 'ready';
  return {
    httpStatus: status === 'ready' || status === 'degraded' ? 200 : 503,
    body: { status, checks },
  };
}
