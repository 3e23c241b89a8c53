import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFeed } from './feed.js';
import { ServiceLatency } from './latency.js';

/**
 * Every metric edgeban exports. Names and labels of the reference system are kept exactly
 * (its dashboards and alerts keep working); edgeban's own metrics use the `edgeban_` prefix. One instance per process
 * (tests may create their own to stay isolated).
 */
export class Metrics {
  readonly registry = new Registry();

  // --- the reference system's names ---------------------------------------------------------
  /** Fed by the proxy fronts' plain counters, read at scrape. */
  readonly requests = new CounterFeed(
    this.registry,
    'fail2ban_requests_total',
    'Ban-state questions answered, by proxy protocol and result (allowed/denied)',
    ['service', 'result'] as const,
  );
  readonly bans = new Counter({
    name: 'fail2ban_bans_total',
    help: 'Bans started, by the pattern that caused them (manual for API bans)',
    labelNames: ['pattern'] as const,
    registers: [this.registry],
  });
  /** edgeban's: the same bans by jail (the reference's `pattern` label set stays as it was). */
  readonly jailBans = new Counter({
    name: 'edgeban_jail_bans_total',
    help: 'Bans started, by the jail that made them (default for the ban: policy and manual bans)',
    labelNames: ['jail'] as const,
    registers: [this.registry],
  });
  readonly currentBans = new Gauge({
    name: 'fail2ban_current_bans',
    help: 'Temporary bans currently active, by pattern',
    labelNames: ['pattern'] as const,
    registers: [this.registry],
  });
  readonly banDuration = new Histogram({
    name: 'fail2ban_ban_duration_seconds',
    help: 'Length of bans started',
    labelNames: ['pattern'] as const,
    buckets: [300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200],
    registers: [this.registry],
  });
  readonly patternMatches = new Counter({
    name: 'fail2ban_pattern_matches_total',
    help: 'Log lines matched, by pattern and severity',
    labelNames: ['pattern', 'severity'] as const,
    registers: [this.registry],
  });
  /** Fed like `requests`. */
  readonly serviceRequests = new CounterFeed(
    this.registry,
    'fail2ban_service_requests_total',
    'Requests answered per proxy service, by verdict status (allowed, denied, error)',
    ['service', 'status'] as const,
  );
  /** Per-proxy answer times (buckets 10 µs … 100 ms), from typed-array recorders at scrape. */
  readonly serviceRequestDuration = new ServiceLatency(this.registry);
  readonly databaseOperations = new Counter({
    name: 'fail2ban_database_operations_total',
    help: 'Database operations by kind and outcome',
    labelNames: ['operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly databaseConnectionsActive = new Gauge({
    name: 'fail2ban_database_connections_active',
    help: 'Open database connections',
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'fail2ban_config_reloads_total',
    help: 'Configuration reloads by source and outcome',
    labelNames: ['source', 'status'] as const,
    registers: [this.registry],
  });
  readonly configPatternsLoaded = new Gauge({
    name: 'fail2ban_config_patterns_loaded',
    help: 'Patterns currently active',
    registers: [this.registry],
  });
  private readonly startedAt = Date.now();
  readonly uptime = new Gauge({
    name: 'fail2ban_uptime_seconds',
    help: 'Seconds since the process started',
    registers: [this.registry],
    collect: () => {
      this.uptime.set((Date.now() - this.startedAt) / 1000);
    },
  });
  readonly buildInfo = new Gauge({
    name: 'fail2ban_build_info',
    help: 'Build information (value 1)',
    labelNames: ['version', 'commit', 'go_version'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean; version?: string; commit?: string } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    // `go_version` is the reference's label name; here it carries the Node.js version.
    this.buildInfo.set(
      { version: opts.version ?? '0.0.0', commit: opts.commit ?? 'unknown', go_version: process.version },
      1,
    );
  }
}
