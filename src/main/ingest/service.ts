import { Gauge } from 'prom-client';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import { effectivePatterns } from '../../shared/patterns/presets/index.js';
import type { Config } from '../config/types.js';
import type { JailSpec } from '../jails/types.js';
import type { Logger } from '../log/logger.js';
import type { AppContext, Service } from '../service.js';
import { parseListenAddress, transports, unprivilegedFallback } from '../syslog/address.js';
import { LineBatcher } from '../syslog/batcher.js';
import { TcpReceiver, UdpReceiver } from '../syslog/receivers.js';
import { SourceFilter } from '../syslog/sources.js';
import { registerSyslogMetrics, SyslogStats } from '../syslog/stats.js';
import { registerPatternHealth } from './health.js';
import { type FailureSink, IngestPipeline, type MatchEvent } from './pipeline.js';
import { MatcherPool } from './pool.js';
import { type LogRoutes, logRoutes, MAX_ROUTES } from './routes.js';

export interface IngestOptions {
  /** Overrides `workers.count` (tests). */
  threads?: number;
  /** Port used when the configured one needs privileges (EACCES); default port + 5000. */
  fallbackPort?: number;
  onMatch?: (e: MatchEvent) => void;
}

/**
 * The syslog → ban pipeline as one Service: UDP/TCP receivers on `syslog.address`, line
 * batching, the matcher pool and delivery to the ban engine. `reload` swaps patterns (new
 * version, no restart) and the allowed sources.
 */
export class IngestService implements Service {
  readonly name = 'syslog';
  readonly stats = new SyslogStats();
  pool: MatcherPool | null = null;
  pipeline: IngestPipeline | null = null;
  /** Bound ports after start (0 = transport off). */
  udpPort = 0;
  tcpPort = 0;
  host = '';
  private config: Config;
  private sources: SourceFilter;
  private batcher: LineBatcher | null = null;
  private tcpBatcher: LineBatcher | null = null;
  private udp: UdpReceiver | null = null;
  private tcp: TcpReceiver | null = null;
  private patterns: readonly PatternSpec[];
  private readonly log: Logger;
  private jails: readonly JailSpec[] = [];
  /** Which patterns read which lines (jails' logpath); see routes.ts. */
  routes: LogRoutes = { patterns: [], paths: new Map() };
  /** Each logpath entry's route, kept across reloads (a route never changes its file). */
  private routeIds = new Map<string, number>();
  private nextRouteId = 1;
  private readonly routeListeners: ((r: LogRoutes) => void)[] = [];

  constructor(
    private readonly ctx: AppContext,
    private readonly sink: FailureSink | null,
    private readonly opts: IngestOptions = {},
  ) {
    this.config = ctx.config;
    this.log = ctx.log.child({ subsystem: 'syslog' });
    this.sources = new SourceFilter(ctx.config.syslog.allowed_sources);
    this.patterns = effectivePatterns(ctx.config.syslog.patterns);
    sink?.setPatterns?.(this.patterns);
    this.jails = ctx.config.jails ?? [];
    this.updateRoutes();
    registerSyslogMetrics(ctx.metrics.registry, () => this.stats);
    if (sink !== null)
      registerPatternHealth(sink, {
        quarantined: () => this.pool?.quarantined ?? new Map(),
        lift: (name) => this.liftQuarantine(name),
      });
    const reg = ctx.metrics.registry;
    if (!reg.getSingleMetric('edgeban_pattern_quarantined')) {
      const g: Gauge<'pattern'> = new Gauge({
        name: 'edgeban_pattern_quarantined',
        help: 'Patterns the run-time ReDoS guard took out (1 per pattern, until its regex changes or it is lifted)',
        labelNames: ['pattern'],
        registers: [reg],
        collect: () => {
          g.reset();
          for (const name of this.pool?.quarantined.keys() ?? []) g.set({ pattern: name }, 1);
        },
      });
    }
    if (!reg.getSingleMetric('edgeban_matcher_workers')) {
      const w: Gauge = new Gauge({
        name: 'edgeban_matcher_workers',
        help: 'Matcher worker threads running (started with the first log batch, ended after a minute without one)',
        registers: [reg],
        collect: () => w.set(this.pool?.running ?? 0),
      });
    }
  }

  /** The jails in force (config file and database): their logpath decides the routes. */
  setJails(jails: readonly JailSpec[]): void {
    this.jails = jails;
    this.updateRoutes();
  }

  /** Called with the new routes whenever they change (the file sources follow the jails' logpath). */
  onRoutesChanged(fn: (r: LogRoutes) => void): void {
    this.routeListeners.push(fn);
  }

  private updateRoutes(): void {
    const names = this.patterns.filter((p) => p.enabled !== false).map((p) => p.name);
    let r = logRoutes(this.jails, names, (path) => this.routeIds.get(path) ?? this.nextRouteId++);
    if (this.nextRouteId > 2 * MAX_ROUTES) {
      // many reloads with new files: numbered afresh (lines batched just before may meet the
      // new numbering's patterns once)
      r = logRoutes(this.jails, names);
      this.nextRouteId = r.paths.size + 1;
    }
    this.routeIds = new Map(r.paths);
    if (r.dropped.length > 0)
      this.log.warn(
        { dropped: r.dropped, max: r.paths.size },
        'jails name more log files than edgeban follows; the rest are not read',
      );
    const same =
      JSON.stringify(r.patterns) === JSON.stringify(this.routes.patterns) &&
      JSON.stringify([...r.paths]) === JSON.stringify([...this.routes.paths]);
    if (same) return;
    this.routes = { patterns: r.patterns, paths: r.paths };
    this.pool?.setRoutes(r.patterns);
    for (const f of this.routeListeners) f(this.routes);
  }

  /** An operator lifts a quarantine (REST API); false when `name` is not quarantined. */
  liftQuarantine(name: string): boolean {
    if (!this.pool?.lift(name)) return false;
    this.log.warn({ pattern: name }, 'pattern quarantine lifted: the pattern runs again');
    return true;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const cfg = this.config.syslog;
    const want = transports(cfg.protocol);
    const addr = parseListenAddress(cfg.address);
    this.pool = new MatcherPool({
      threads: this.opts.threads ?? ctx.config.workers.count,
      patterns: this.patterns,
    });
    this.pool.setRoutes(this.routes.patterns);
    ctx.metrics.configPatternsLoaded.set(this.pool.current.set.patterns.length);
    this.pipeline = new IngestPipeline({
      pool: this.pool,
      sink: this.sink,
      stats: this.stats,
      log: this.log,
      maxQueued: cfg.max_queued_batches,
      // TCP blocks reach the workers uncut: they enforce the limit (and count it)
      maxLen: cfg.max_line_length,
      matchesCounter: ctx.metrics.patternMatches,
      onMatch: this.opts.onMatch,
    });
    this.batcher = new LineBatcher(cfg.batch_size, cfg.batch_delay, this.pipeline.submit);
    this.tcpBatcher = new LineBatcher(cfg.batch_size, cfg.batch_delay, this.pipeline.submitFlowControlled);
    const pipeline = this.pipeline;
    for (const b of [this.batcher, this.tcpBatcher]) {
      b.setIdleCheck(() => pipeline.idleNow);
      pipeline.onDrained(() => b.kick());
    }
    const deps = {
      batcher: this.batcher,
      tcpBatcher: this.tcpBatcher,
      stats: this.stats,
      sources: () => this.sources,
      maxLineLength: () => this.config.syslog.max_line_length,
      log: this.log,
      congested: () => this.pipeline?.congested === true,
      whenRoom: () => this.pipeline?.whenRoom() ?? Promise.resolve(),
    };
    this.host = addr.host;
    try {
      await this.bindAll(want, addr.host, addr.port, deps);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const fallback = this.opts.fallbackPort ?? unprivilegedFallback(addr.port);
      if (e.code !== 'EACCES' || fallback === addr.port) {
        await this.stop();
        throw err;
      }
      await this.closeReceivers();
      this.log.warn(
        { port: addr.port, fallbackPort: fallback, host: addr.host },
        `syslog: binding port ${addr.port} needs privileges (EACCES); listening on unprivileged port ${fallback} instead`,
      );
      await this.bindAll(want, addr.host, fallback, deps);
    }
    this.log.info(
      {
        host: addr.host,
        udp: this.udpPort || undefined,
        tcp: this.tcpPort || undefined,
        patterns: this.pool.current.set.patterns.map((p) => p.name),
        workers: this.pool.threads,
      },
      'Syslog reader started',
    );
  }

  private async bindAll(
    want: { udp: boolean; tcp: boolean },
    host: string,
    port: number,
    deps: ConstructorParameters<typeof UdpReceiver>[0],
  ): Promise<void> {
    if (want.udp) {
      this.udp = new UdpReceiver(deps);
      this.udpPort = await this.udp.listen(host, port);
    }
    if (want.tcp) {
      this.tcp = new TcpReceiver(deps);
      // port 0 (tests): TCP takes the same number as UDP when it can
      this.tcpPort = await this.tcp
        .listen(host, port === 0 && this.udpPort ? this.udpPort : port)
        .catch(() => this.tcp!.listen(host, port));
    }
  }

  private async closeReceivers(): Promise<void> {
    await this.udp?.close();
    await this.tcp?.close();
    this.udp = null;
    this.tcp = null;
    this.udpPort = 0;
    this.tcpPort = 0;
  }

  /** New patterns (config reload, store) without a restart; throws PatternError and keeps the old set. */
  setPatterns(specs: readonly PatternSpec[]): void {
    const eff = effectivePatterns(specs);
    if (this.pool) {
      const v = this.pool.setPatterns(eff);
      this.ctx.metrics.configPatternsLoaded.set(v.set.patterns.length);
      this.log.info({ version: v.version, patterns: v.set.patterns.length }, 'syslog patterns reloaded');
    }
    this.patterns = eff;
    // the engine routes each pattern to its jail, with its weight and `success` flag
    this.sink?.setPatterns?.(eff);
    this.updateRoutes();
  }

  reload(config: Config): void {
    this.sources = new SourceFilter(config.syslog.allowed_sources);
    this.config = config;
    this.setPatterns(config.syslog.patterns);
  }

  /** Flushes the open batch and waits until every line received so far reached the engine. */
  async drain(): Promise<void> {
    this.batcher?.flush();
    this.tcpBatcher?.flush();
    await this.pipeline?.idle();
  }

  async stop(): Promise<void> {
    await this.closeReceivers();
    this.batcher?.close();
    this.tcpBatcher?.close();
    await this.pipeline?.idle();
    await this.pool?.close();
    this.pool = null;
  }
}
