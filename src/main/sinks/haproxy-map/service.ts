import { Counter, Gauge, Histogram } from 'prom-client';
import type { HaproxyMapConfig } from '../../config/types.js';
import type { BanEngineApi } from '../../engine/types.js';
import type { Logger } from '../../log/logger.js';
import { LogThrottle } from '../../log/throttle.js';
import type { Metrics } from '../../metrics/registry.js';
import type { AppContext, Service } from '../../service.js';
import { MapFileWriter } from './map-file.js';
import { parseSocketAddress } from './runtime.js';
import { BanMapState } from './state.js';
import { MapSyncer, type SyncerOptions } from './syncer.js';

/** How often expired bans are taken out of the map (the engine does not report expiry). */
const EXPIRE_TICK_MS = 1000;
/** Bans looked at per event-loop turn of the expiry pass. */
const EXPIRE_SLICE = 4096;
/** The map file is rewritten at most this often while bans change. */
const FILE_INTERVAL_MS = 1000;
/**
 * Longest the sink waits for the persisted bans to be restored before it replaces HAProxy's map:
 * until then HAProxy keeps the bans it holds (stale beats empty), past it the ones made since
 * start go out too.
 */
const RESTORE_WAIT_MS = 60_000;

export interface HaproxyMapSinkOptions {
  config: HaproxyMapConfig;
  engine: Pick<BanEngineApi, 'list' | 'onEvent'>;
  log: Logger;
  metrics?: Metrics;
  /** True once the persisted bans are back in the engine (the map is replaced only then). */
  restored?: () => boolean;
  /** Per-socket hooks (benchmarks). */
  hooks?: Pick<SyncerOptions, 'onBatch' | 'onFull'>;
}

/**
 * The `haproxy_map` sink: the wanted map (from the engine's events, expiry and a periodic
 * reconcile), one syncer per runtime API socket, and the map file. None of it runs on the
 * request path: the engine's listener only updates in-memory maps; sockets and the file are
 * written asynchronously.
 */
export class HaproxyMapSink {
  readonly state: BanMapState;
  readonly syncers: MapSyncer[];
  private readonly file: MapFileWriter | null;
  private readonly o: HaproxyMapSinkOptions;
  private readonly throttle: LogThrottle;
  private unsubscribe: (() => void) | null = null;
  private expireTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private reconcileSoon: NodeJS.Immediate | null = null;
  private waitTimer: NodeJS.Timeout | null = null;
  private expireSlice: NodeJS.Immediate | null = null;
  private syncing = false;

  constructor(o: HaproxyMapSinkOptions) {
    this.o = o;
    const cfg = o.config;
    this.state = new BanMapState(o.engine);
    this.throttle = new LogThrottle(o.log);
    const reg = o.metrics ? [o.metrics.registry] : [];
    const state = this.state;
    const errors = new Counter({
      name: 'edgeban_haproxy_map_socket_errors_total',
      help: 'Runtime API socket failures and refused map changes, per socket',
      labelNames: ['socket'],
      registers: reg,
    });
    const lag = new Histogram({
      name: 'edgeban_haproxy_map_sync_lag_seconds',
      help: 'Age of the oldest ban change in each batch applied to HAProxy, per socket',
      labelNames: ['socket'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: reg,
    });
    const up = new Gauge({
      name: 'edgeban_haproxy_map_socket_up',
      help: '1 when the map on this socket is in step (connected, replaced), else 0',
      labelNames: ['socket'],
      registers: reg,
    });
    const fulls = new Counter({
      name: 'edgeban_haproxy_map_replacements_total',
      help: 'Whole-map replacements (prepare/commit), per socket',
      labelNames: ['socket'],
      registers: reg,
    });
    new Gauge({
      name: 'edgeban_haproxy_map_entries',
      help: 'Entries the HAProxy map holds (bans, blacklist and whitelist entries)',
      registers: reg,
      collect: function (this: Gauge) {
        this.set(state.entries.size);
      },
    });
    const fileErrors = new Counter({
      name: 'edgeban_haproxy_map_file_errors_total',
      help: 'Failed rewrites of the map file',
      registers: reg,
    });
    this.syncers = cfg.sockets.map((name) => {
      up.set({ socket: name }, 0);
      errors.inc({ socket: name }, 0);
      return new MapSyncer({
        name,
        address: parseSocketAddress(name),
        map: cfg.map,
        state,
        log: o.log,
        throttle: this.throttle,
        timeoutMs: cfg.timeout,
        maxPending: cfg.max_pending,
        backoffMinMs: 100,
        backoffMaxMs: 10_000,
        keepaliveMs: 3000,
        onBatch: (n, ms) => {
          lag.observe({ socket: name }, ms / 1000);
          o.hooks?.onBatch?.(n, ms);
        },
        onFull: (n, ms) => {
          fulls.inc({ socket: name });
          o.hooks?.onFull?.(n, ms);
        },
        onError: () => errors.inc({ socket: name }),
        onUp: (u) => up.set({ socket: name }, u ? 1 : 0),
      });
    });
    this.file = cfg.write_file
      ? new MapFileWriter(cfg.map, state.entries, FILE_INTERVAL_MS, (err) => {
          fileErrors.inc();
          this.throttle.warn(
            'file',
            cfg.map,
            { path: cfg.map, err },
            'could not rewrite the HAProxy map file',
          );
        })
      : null;
    state.onChange((target, value, at) => {
      if (!this.syncing) return;
      for (const s of this.syncers) s.changed(target, value, at);
      this.file?.touch();
    });
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.engine.onEvent((e) => {
      if (this.state.handle(e)) this.scheduleReconcile();
    });
    this.state.reconcile();
    const restored = this.o.restored ?? (() => true);
    if (restored()) await this.beginSync();
    else {
      const t0 = Date.now();
      this.o.log.info('HAProxy map left as it is until the persisted bans are restored');
      this.waitTimer = setInterval(() => {
        if (!restored() && Date.now() - t0 < RESTORE_WAIT_MS) return;
        if (this.waitTimer) clearInterval(this.waitTimer);
        this.waitTimer = null;
        if (!restored())
          this.o.log.warn(
            { waited_ms: RESTORE_WAIT_MS },
            'persisted bans still not restored: HAProxy map replaced with the bans known now',
          );
        void this.beginSync();
      }, 200);
      this.waitTimer.unref();
    }
    this.expireTimer = setInterval(() => {
      if (!this.expireSlice) this.expireStep();
    }, EXPIRE_TICK_MS);
    this.expireTimer.unref();
    this.resyncTimer = setInterval(() => this.state.reconcile(), this.o.config.resync_interval);
    this.resyncTimer.unref();
  }

  /** Replace the file, then each HAProxy's map, and follow the changes from now on. */
  private async beginSync(): Promise<void> {
    this.state.reconcile();
    this.syncing = true;
    // the file first: a HAProxy (re)started from now on loads the current bans
    await this.file?.flush();
    for (const s of this.syncers) s.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.waitTimer) clearInterval(this.waitTimer);
    if (this.expireTimer) clearInterval(this.expireTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.reconcileSoon) clearImmediate(this.reconcileSoon);
    if (this.expireSlice) clearImmediate(this.expireSlice);
    await Promise.all(this.syncers.map((s) => s.stop()));
    if (this.syncing) await this.file?.flush();
    this.throttle.close();
  }

  private expireStep(): void {
    this.expireSlice = null;
    if (!this.state.expire(EXPIRE_SLICE)) this.expireSlice = setImmediate(() => this.expireStep());
  }

  /**
   * Rebuild once, after the current burst: a whitelist change may hide or reveal any ban, a
   * reload may have changed the config's lists.
   */
  scheduleReconcile(): void {
    if (this.reconcileSoon) return;
    this.reconcileSoon = setImmediate(() => {
      this.reconcileSoon = null;
      this.state.reconcile();
    });
  }
}

/** The sink as a Service of the app, or null when `haproxy_map.enabled` is false. */
export function createHaproxyMapService(
  ctx: AppContext,
  engine: BanEngineApi,
  restored: () => boolean,
): Service | null {
  const cfg = ctx.config.haproxy_map;
  if (!cfg.enabled) return null;
  const sink = new HaproxyMapSink({
    config: cfg,
    engine,
    log: ctx.log.child({ subsystem: 'haproxy-map' }),
    metrics: ctx.metrics,
    restored: () => !ctx.config.database.enabled || restored(),
  });
  return {
    name: 'haproxy-map',
    start: () => sink.start(),
    stop: () => sink.stop(),
    // the app applies the new config's lists to the engine before the services' reloads
    reload: () => sink.scheduleReconcile(),
  };
}
