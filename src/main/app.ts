import type { Config } from './config/types.js';
import { type Core, createCore } from './core.js';
import { createEngineService } from './engine/service.js';
import { createEnvoyService } from './envoy/server.js';
import { FileSourcesService } from './files/service.js';
import { createFleetService } from './fleet/service.js';
import { createHttpService } from './http/server.js';
import { patternHealthOf } from './ingest/health.js';
import { IngestService } from './ingest/service.js';
import { createJailBansService } from './jails/service.js';
import { asError } from './log/logger.js';
import { createMetricsService } from './metrics/server.js';
import { createNotifyService } from './notify/service.js';
import { type ReadinessReport, readinessReport, type ServiceState } from './readiness.js';
import { type AppContext, type Service, Subsystem, type SubsystemOptions } from './service.js';
import { createHaproxyMapService } from './sinks/haproxy-map/service.js';
import { createNftablesService } from './sinks/nftables/service.js';
import { createSpoaService } from './spoa/server.js';
import { containerHint, logListening } from './startup-log.js';
import { registerStoreStatusMetrics } from './store/status-metrics.js';
import type { Store } from './store/types.js';
import { wireStore } from './store/wiring.js';

/**
 * Longest the SPOA waits for the persisted bans before it listens anyway (a database that
 * stalls mid-read must not keep HAProxy's agent down for good).
 */
const RESTORE_WAIT_MS = 60_000;
/** The store's final flush may use as long as the whole stop may take. */
const STORE_STOP_BOUND_MS = 10_000;

/**
 * The composition root: the core (ban table, engine, config lists), the store, and every
 * subsystem in the one order they start in (stopped in reverse). The list in the constructor is
 * that order, top to bottom; a disabled subsystem has no entry.
 */
export class App {
  readonly ctx: AppContext;
  readonly core: Core;
  readonly ingest: IngestService;
  /** Log files followed beside syslog (`files:`, jails' `logpath`). */
  readonly files: FileSourcesService;
  /** The SQL store; null when the database is disabled (the API then answers "no database"). */
  readonly store: Store | null;
  /** In start order. */
  readonly subsystems: readonly Subsystem[];
  private readonly restored: () => boolean;
  private lastLines = { count: 0, at: null as number | null };

  constructor(ctx: AppContext) {
    this.ctx = ctx;
    const { config } = ctx;
    this.core = createCore({
      config,
      log: ctx.log.child({ subsystem: 'engine' }),
      metrics: ctx.metrics,
    });
    const { table, engine } = this.core;
    const lookups = { table, services: table.services, reasonText: (id: number) => table.reasonText(id) };
    this.ingest = new IngestService(ctx, engine);
    this.files = new FileSourcesService(ctx, () => this.ingest.pipeline);
    // a jail's logpath is a file source whose lines only that jail's patterns read (routes.ts)
    const filesLog = ctx.log.child({ subsystem: 'files' });
    const follow = () =>
      this.files
        .setJailPaths(this.ingest.routes.paths)
        .catch((err: unknown) =>
          filesLog.error({ err: asError(err) }, "files: the jails' log files could not be followed"),
        );
    this.ingest.onRoutesChanged(follow);
    engine.onJailsChanged((jails) => this.ingest.setJails(jails));
    void follow();
    const store = wireStore({ ctx, engine, ingest: this.ingest });
    this.store = config.database.enabled ? store.store : null;
    this.restored = () => store.binding.isRestored;
    registerStoreStatusMetrics(ctx.metrics.registry, () => this.store?.databaseStatus() ?? null);
    const sql = this.store;
    this.subsystems = present([
      // connect, migrate and load the policy before the matchers start; stops last: final flush
      entry(store.first, { stopBoundMs: STORE_STOP_BOUND_MS }),
      // the sweep timers; failure counts kept across a restart
      entry(createEngineService(ctx, engine)),
      // recidive and subnet bans, made from the engine's (and the fleet's) ban events
      entry(createJailBansService(ctx, engine, config.database.enabled ? store.store : null)),
      // right after the engine, so it stops after the receivers and the API: their last bans
      // still reach the other nodes
      entry(createFleetService(ctx, engine, sql)),
      // hears every ban made until the receivers have stopped
      entry(
        createNotifyService(ctx, {
          engine,
          quarantined: () => patternHealthOf(engine)?.quarantined() ?? new Map(),
          database: () => this.store?.databaseStatus() ?? null,
        }),
      ),
      config.prometheus.enabled && entry(createMetricsService(ctx)),
      entry(this.ingest),
      // after the pipeline it feeds; stops first, handing its last lines on
      entry(this.files),
      config.envoy.enabled && entry(createEnvoyService(ctx, lookups)),
      config.nginx.enabled &&
        entry(createHttpService(ctx, { table, engine, store: () => sql, ready: () => this.readiness() })),
      // every persisted ban into the table (when the database does not answer yet: later, in the
      // background); everything above serves meanwhile
      entry(store.last, { startWaitMs: RESTORE_WAIT_MS }),
      // bans kept in HAProxy's own memory: it leaves HAProxy's map alone until the restore is in
      entry(createHaproxyMapService(ctx, engine, this.restored)),
      // and in nftables sets of edgeban's own table: its full resync also waits for the restore
      config.nftables.enabled && entry(createNftablesService(ctx, engine, () => this.restored())),
      // last, once lookups are right: HAProxy's first HELLO and NOTIFY meet the complete table
      // and an event loop the start-up no longer keeps busy
      config.spoa.enabled && entry(createSpoaService(ctx, lookups)),
    ]);
  }

  /** Each subsystem's state, for /ready. */
  get states(): ReadonlyMap<string, ServiceState> {
    return new Map(this.subsystems.map((s) => [s.name, s.state]));
  }

  async start(): Promise<void> {
    const log = this.ctx.log;
    containerHint(log, this.ctx.config);
    const syslogPorts = () => ({
      host: this.ingest.host,
      udp: this.ingest.udpPort,
      tcp: this.ingest.tcpPort,
    });
    const started: Subsystem[] = [];
    try {
      for (const s of this.subsystems) {
        await s.start(log);
        started.push(s);
        log.info({ subsystem: s.name }, `${s.name} started`);
        logListening(log, s.name, this.ctx.config, syslogPorts);
      }
    } catch (err) {
      // a listener that cannot bind is fatal: stop what already runs, then report
      for (const s of started.reverse()) await s.stop(log);
      throw err;
    }
  }

  /** Stops every subsystem in reverse start order; each stop is bounded and never throws. */
  async stop(): Promise<void> {
    for (const s of this.subsystems) s.markStopping();
    for (const s of [...this.subsystems].reverse()) await s.stop(this.ctx.log);
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
    this.core.applyConfig(config);
    for (const s of this.subsystems) await s.reload(config);
  }
}

/** One entry of the start order; null for a subsystem that decided not to run (the fleet). */
function entry(service: Service | null, opts?: SubsystemOptions): Subsystem | null {
  return service ? new Subsystem(service, opts) : null;
}

function present(list: readonly (Subsystem | null | false)[]): Subsystem[] {
  return list.filter((s): s is Subsystem => s instanceof Subsystem);
}
