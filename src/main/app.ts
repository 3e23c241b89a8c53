import { hostname } from 'node:os';
import { BanTable } from '../shared/bantable/index.js';
import type { Config, ListEntryConfig } from './config/types.js';
import { BanEngine } from './engine/index.js';
import type { BanRecord } from './engine/types.js';
import { createEnvoyService } from './envoy/server.js';
import { createFleetService } from './fleet/service.js';
import { createHttpService } from './http/server.js';
import { IngestService } from './ingest/service.js';
import { createMetricsService } from './metrics/server.js';
import { type ReadinessReport, readinessReport, type ServiceState } from './readiness.js';
import type { AppContext, Service } from './service.js';
import { createNftablesService } from './sinks/nftables/service.js';
import { createSpoaService } from './spoa/server.js';
import { containerHint, logListening } from './startup-log.js';
import type { Store } from './store/types.js';
import { wireStore } from './store/wiring.js';

/**
 * The composition root: builds the shared state (ban table, engine, store) and the services from
 * the config, starts them in order and stops them in reverse order. Subsystems are wired in the
 * marked places below; each one is a Service created from the context.
 */
export class App {
  readonly ctx: AppContext;
  readonly services: Service[] = [];
  readonly table: BanTable;
  readonly engine: BanEngine;
  readonly ingest: IngestService;
  /** The SQL store (issue #6); null until wired or when the database is disabled. */
  store: Store | null = null;
  /** Each service's state, for /ready. */
  readonly states = new Map<string, ServiceState>();
  private readonly restored: () => boolean;
  private lastLines = { count: 0, at: null as number | null };

  constructor(ctx: AppContext) {
    this.ctx = ctx;
    // shared state: the ban table and its single writer, the engine
    this.table = new BanTable({ initialCapacity: 1 << 16 });
    this.engine = new BanEngine({
      table: this.table,
      ...BanEngine.configOptions(ctx.config.ban),
      nodeId: ctx.config.fleet.node || hostname(),
      log: ctx.log.child({ subsystem: 'engine' }),
      metrics: ctx.metrics,
    });
    this.engine.replaceLists('config', configLists(ctx.config));
    // services, in start order (stopped in reverse)
    const engine = this.engine;
    this.services.push({
      name: 'engine',
      start: async () => engine.start(),
      stop: async () => engine.stop(),
    });
    if (ctx.config.prometheus.enabled) this.services.push(createMetricsService(ctx));
    if (ctx.config.spoa.enabled) {
      this.services.push(
        createSpoaService(ctx, { table: this.table, reasonText: (id) => this.table.reasonText(id) }),
      );
    }
    this.ingest = new IngestService(ctx, this.engine);
    this.services.push(this.ingest);
    // the store starts first (connect, migrate, policy from the database before the matchers
    // start) and stops last (final flush); the restore runs once the listeners serve lookups
    const store = wireStore({ ctx, engine: this.engine, ingest: this.ingest });
    // database.enabled: false → no store for the API (it answers "no database" itself)
    this.store = ctx.config.database.enabled ? store.store : null;
    this.restored = () => store.binding.isRestored;
    this.services.unshift(store.first);
    if (ctx.config.envoy.enabled) {
      this.services.push(
        createEnvoyService(ctx, { table: this.table, reasonText: (id) => this.table.reasonText(id) }),
      );
    }
    if (ctx.config.nginx.enabled) {
      this.services.push(
        createHttpService(ctx, {
          table: this.table,
          engine: this.engine,
          store: () => this.store,
          ready: () => this.readiness(),
        }),
      );
    }
    if (ctx.config.nftables.enabled)
      this.services.push(createNftablesService(ctx, this.engine, () => this.restored()));
    this.services.push(store.last);
    // right after the engine: stopped after the receivers and the API, so their last bans still
    // reach the other nodes
    const sql = this.store;
    const fleet = createFleetService(ctx, this.engine, sql ? () => sql.reloadNow() : null);
    if (fleet) this.services.splice(this.services.findIndex((s) => s.name === 'engine') + 1, 0, fleet);
  }

  async start(): Promise<void> {
    const started: Service[] = [];
    containerHint(this.ctx.log, this.ctx.config);
    const syslogPorts = () => ({
      host: this.ingest.host,
      udp: this.ingest.udpPort,
      tcp: this.ingest.tcpPort,
    });
    for (const s of this.services) this.states.set(s.name, 'starting');
    try {
      for (const s of this.services) {
        await s.start();
        started.push(s);
        this.states.set(s.name, 'up');
        this.ctx.log.info({ service: s.name }, `${s.name} started`);
        logListening(this.ctx.log, s.name, this.ctx.config, syslogPorts);
      }
    } catch (err) {
      // a listener that cannot bind is fatal: stop what already runs, then report
      for (const s of started.reverse()) await s.stop().catch(() => {});
      throw err;
    }
  }

  async stop(): Promise<void> {
    for (const s of this.services) this.states.set(s.name, 'stopping');
    for (const s of [...this.services].reverse()) {
      try {
        await s.stop();
        this.states.set(s.name, 'stopped');
      } catch (err) {
        this.ctx.log.error({ service: s.name, err }, `${s.name} did not stop cleanly`);
      }
    }
  }

  /** `/ready` on the HTTP port: every subsystem's state. */
  readiness(): ReadinessReport {
    const st = this.ingest.stats;
    const lines = st.udpLines + st.tcpLines;
    if (lines !== this.lastLines.count) this.lastLines = { count: lines, at: Date.now() };
    return readinessReport({
      config: this.ctx.config,
      services: this.states,
      database: this.store ? this.store.databaseStatus() : null,
      restored: this.restored(),
      syslog: {
        udp: this.ingest.udpPort,
        tcp: this.ingest.tcpPort,
        lines,
        rejected: st.rejectedUdp + st.rejectedTcp,
        lastLineAt: this.lastLines.at,
      },
    });
  }

  /** Apply a new, already validated config without a restart (SIGHUP). */
  async reload(config: Config): Promise<void> {
    this.ctx.config = config;
    this.ctx.log.level = config.log.level;
    this.engine.setPolicy(BanEngine.policyFromConfig(config.ban));
    this.engine.setIgnoreIps(config.ban.ignore_ips);
    this.engine.replaceLists('config', configLists(config));
    for (const s of this.services) await s.reload?.(config);
  }
}

/** The config's static `blacklist` / `whitelist` sections as list records (source: config). */
function configLists(config: Config): BanRecord[] {
  const rec =
    (kind: 'blacklist' | 'whitelist') =>
    (e: ListEntryConfig): BanRecord => ({
      target: e.ip,
      kind,
      reason: e.reason || `config ${kind}`,
      pattern: null,
      createdAt: Date.now(),
      expiresAt: null,
      createdBy: 'config',
      offences: 0,
      node: hostname(),
    });
  return [...config.blacklist.map(rec('blacklist')), ...config.whitelist.map(rec('whitelist'))];
}
