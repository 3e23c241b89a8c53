import { createServer, type Server, type Socket } from 'node:net';
import { Gauge } from 'prom-client';
import type { BanTableReader, ServiceNames } from '../../shared/bantable/index.js';
import { EdgebanError } from '../../shared/errors.js';
import { CidrFilter } from '../../shared/ip/cidr-filter.js';
import type { SpoaConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import { counterFeed, FeedSet } from '../metrics/feed.js';
import type { LatencyRecorder } from '../metrics/latency.js';
import type { Metrics } from '../metrics/registry.js';
import { feedProxyMetrics } from '../metrics/verdicts.js';
import type { AppContext, Service } from '../service.js';
import { Admission } from './admission.js';
import { type ConnectionHost, SpoaConnection } from './connection.js';
import { encodeAgentDisconnect } from './frames.js';
import { NotifyAnswerer } from './notify.js';
import { Scope, Status } from './protocol.js';

export interface SpoaServerOptions {
  config: SpoaConfig;
  table: BanTableReader;
  /** The table's service names (BanTable.services): `service` message arguments resolve there. */
  services?: ServiceNames;
  reasonText: (id: number) => string;
  log: Logger;
  metrics?: Metrics;
}

/** The answer to a peer refused for lack of room (pre-encoded: refusals come in floods). */
const REFUSED_FULL = encodeAgentDisconnect(Status.RES, 'too many connections (spoa.max_clients)');
const REFUSED_SOURCE = encodeAgentDisconnect(
  Status.RES,
  'too many connections from this address (spoa.max_clients_per_source)',
);

/**
 * The SPOE agent: accepts HAProxy's connections, answers NOTIFYs from the ban table. Counters
 * are plain numbers on the hot path and reach Prometheus once a second.
 */
export class SpoaServer implements ConnectionHost {
  readonly answerer: NotifyAnswerer;
  readonly log: Logger;
  readonly throttle: LogThrottle;
  readonly maxFrameSize: number;
  private readonly admission = new Admission();
  /** Every open connection (the admission's set). */
  readonly connections: ReadonlySet<SpoaConnection> = this.admission.all;
  frames = 0;
  /** Refused for lack of room (spoa.max_clients, spoa.max_clients_per_source). */
  refused = 0;
  /** Closed at once: the peer is outside spoa.allowed_sources. */
  rejected = 0;
  /** Idle connections closed to make room for a new one. */
  evicted = 0;
  /** Exceptions caught while handling a connection's bytes. */
  handlerErrors = 0;
  accepted = 0;
  healthchecks = 0;
  readonly errors = new Map<number, number>();
  private config: SpoaConfig;
  private sources: CidrFilter;
  private server: Server | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly metrics?: Metrics;
  /** Prometheus reads the plain counters at scrape; detached at close. */
  private readonly feeds = new FeedSet();
  /** Time per NOTIFY answered (null without metrics). */
  latency: LatencyRecorder | null = null;

  constructor(opts: SpoaServerOptions) {
    this.config = opts.config;
    this.sources = new CidrFilter(opts.config.allowed_sources);
    this.log = opts.log;
    this.throttle = new LogThrottle(opts.log);
    this.maxFrameSize = opts.config.max_frame_size;
    const scope = Scope[opts.config.var_scope];
    if (scope === undefined)
      throw new EdgebanError('E_CONFIG', `spoa.var_scope: unknown scope "${opts.config.var_scope}"`);
    this.answerer = new NotifyAnswerer(
      opts.table,
      { scope, setReason: opts.config.set_reason, setTtl: opts.config.set_ttl },
      opts.reasonText,
      opts.services ?? null,
    );
    if (opts.metrics) this.feedMetrics(opts.metrics);
  }

  private feedMetrics(m: Metrics): void {
    const reg = m.registry;
    const k = this.answerer.counters;
    const f = this.feeds;
    f.add(m.requests.add(() => k.allowed, { service: 'haproxy', result: 'allowed' }));
    f.add(m.requests.add(() => k.denied, { service: 'haproxy', result: 'denied' }));
    // per address asked (a NOTIFY may carry several); no verdict: no usable address, or a failure
    this.latency = feedProxyMetrics(m, f, 'haproxy', {
      allowed: () => k.allowed,
      denied: () => k.denied,
      error: () => k.noAddress + k.handlerErrors,
    });
    const own = (name: string, help: string, read: () => number) =>
      f.add(counterFeed(reg, name, help).add(read));
    own('edgeban_spoa_connections_total', 'HAProxy connections accepted', () => this.accepted);
    own(
      'edgeban_spoa_connections_refused_total',
      'Connections refused because spoa.max_clients or spoa.max_clients_per_source was reached',
      () => this.refused,
    );
    own(
      'edgeban_spoa_connections_rejected_total',
      'Connections closed at once because the peer is outside spoa.allowed_sources',
      () => this.rejected,
    );
    own(
      'edgeban_spoa_connections_evicted_total',
      'Idle connections closed to make room for a new one',
      () => this.evicted,
    );
    own(
      'edgeban_spoa_handler_errors_total',
      'Connections closed because handling their bytes failed unexpectedly',
      () => this.handlerErrors,
    );
    own('edgeban_spoa_frames_total', 'SPOP frames read', () => this.frames);
    f.add(
      counterFeed(
        reg,
        'edgeban_spoa_protocol_errors_total',
        'Connections ended for a protocol error, by SPOP status code',
        ['status'],
      ).addByLabel('status', () => this.errors),
    );
    const gauge: Gauge = new Gauge({
      name: 'edgeban_spoa_connections',
      help: 'Open HAProxy connections',
      registers: [reg],
      collect: () => gauge.set(this.connections.size),
    });
  }

  get address(): { address: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : null;
  }

  listen(): Promise<void> {
    const server = createServer({ noDelay: true, keepAlive: true }, (s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new EdgebanError(
            'E_LISTEN',
            `cannot listen on ${this.config.address}:${this.config.port} (spoa.address/spoa.port): ${err.code ?? err.message}`,
            { cause: err },
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: this.config.address, port: this.config.port, backlog: 1024 }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.error({ err }, 'SPOA listener error'));
        this.sweeper = setInterval(
          () => this.sweep(),
          Math.max(100, Math.min(1000, this.config.hello_timeout / 2)),
        );
        this.sweeper.unref();
        resolve();
      });
    });
  }

  /** Apply a reloaded `spoa` section: sources, limits and timeouts (address and codec need a restart). */
  reload(config: SpoaConfig): void {
    this.sources = new CidrFilter(config.allowed_sources);
    this.config = { ...config, address: this.config.address, port: this.config.port };
  }

  private accept(socket: Socket): void {
    try {
      this.admit(socket);
    } catch (err) {
      // nothing about one peer may take the listener down
      this.handlerErrors++;
      this.throttle.error('accept_error', socket.remoteAddress ?? '', { err }, 'SPOA accept failed');
      socket.destroy();
    }
  }

  private admit(socket: Socket): void {
    const source = socket.remoteAddress;
    if (source === undefined || !this.sources.allows(source)) {
      // not a peer of ours: no byte of SPOP for it
      this.rejected++;
      socket.destroy();
      this.throttle.warn(
        'source_refused',
        source ?? '',
        { peer: source, rejected: this.rejected },
        'SPOA connection refused: source outside spoa.allowed_sources',
      );
      return;
    }
    const now = Date.now();
    const cfg = this.config;
    for (let i = 0; i < 4; i++) {
      const d = this.admission.decide(source, now, cfg.max_clients, cfg.max_clients_per_source);
      if (d === null) {
        this.accepted++;
        this.admission.add(new SpoaConnection(socket, this, now));
        return;
      }
      if (typeof d === 'string') {
        this.refuse(socket, source, d);
        return;
      }
      this.evicted++;
      d.close(Status.NORMAL, 'idle connection closed to make room (spoa.max_clients)');
    }
    this.refuse(socket, source, 'max_clients');
  }

  private refuse(socket: Socket, source: string, limit: 'max_clients' | 'max_clients_per_source'): void {
    // Refuse cleanly: HAProxy reads a DISCONNECT in place of the AGENT-HELLO it waits for.
    this.refused++;
    socket.on('error', () => {});
    // read (and drop) what it sends, or its FIN would never be seen and the socket would linger
    socket.resume();
    socket.end(limit === 'max_clients' ? REFUSED_FULL : REFUSED_SOURCE);
    setTimeout(() => socket.destroy(), 1000).unref();
    this.throttle.warn(
      `refused_${limit}`,
      source,
      {
        peer: source,
        max_clients: this.config.max_clients,
        max_clients_per_source: this.config.max_clients_per_source,
        from_source: this.admission.countFrom(source),
        refused: this.refused,
      },
      `SPOA connection refused: spoa.${limit} reached and no idle connection to close`,
    );
  }

  protocolError(status: number): void {
    this.errors.set(status, (this.errors.get(status) ?? 0) + 1);
  }

  connectionClosed(c: SpoaConnection): void {
    this.admission.remove(c);
  }

  helloDone(healthcheck: boolean): void {
    if (healthcheck) this.healthchecks++;
  }

  handlerError(c: SpoaConnection, err: unknown): void {
    this.handlerErrors++;
    this.throttle.error(
      'handler_error',
      c.source,
      { peer: c.peer, engine_id: c.engineId || undefined, err },
      'SPOA connection failed unexpectedly, disconnecting',
    );
  }

  /**
   * Timeouts without a timer per connection: a HELLO that does not come, a frame that stays
   * incomplete (slowloris) or a connection idle for longer than `spoa.read_timeout`.
   */
  private sweep(): void {
    const now = Date.now();
    const rt = this.config.read_timeout;
    const ht = this.config.hello_timeout;
    for (const c of this.connections) {
      try {
        if (!c.ready && now - c.openedAt > ht) {
          this.protocolError(Status.TIMEOUT);
          c.close(Status.TIMEOUT, 'no HELLO in time');
        } else if (c.partialSince !== 0 && now - c.partialSince > rt) {
          this.protocolError(Status.TIMEOUT);
          this.throttle.warn(
            'frame_timeout',
            c.source,
            { peer: c.peer, engine_id: c.engineId || undefined },
            'SPOA frame incomplete for too long, disconnecting',
          );
          c.close(Status.TIMEOUT, 'incomplete frame timed out');
        } else if (now - c.lastActivity > rt) {
          c.close(Status.NORMAL, 'idle timeout');
        }
      } catch (err) {
        this.handlerError(c, err);
        c.socket.destroy();
        this.admission.remove(c);
      }
    }
  }

  /** Stop accepting, say goodbye (AGENT-DISCONNECT 0) on every connection, wait for them to close. */
  async close(graceMs = 2000): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    // closing releases the slot at once: wait for the sockets themselves
    const sockets = [...this.connections].map((c) => c.socket);
    for (const c of [...this.connections]) c.close(Status.NORMAL, 'agent shutting down');
    const deadline = Date.now() + graceMs;
    while (sockets.some((s) => !s.destroyed) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    for (const s of sockets) s.destroy();
    await closed;
    this.feeds.detach();
    this.throttle.close();
  }
}

/** The SPOA as a Service of the app. */
export function createSpoaService(
  ctx: AppContext,
  deps: { table: BanTableReader; services?: ServiceNames; reasonText: (id: number) => string },
): Service & { server: SpoaServer } {
  const server = new SpoaServer({
    config: ctx.config.spoa,
    table: deps.table,
    services: deps.services,
    reasonText: deps.reasonText,
    log: ctx.log.child({ subsystem: 'spoa' }),
    metrics: ctx.metrics,
  });
  return {
    name: 'spoa',
    server,
    start: () => server.listen(),
    stop: () => server.close(),
    reload: (config) => server.reload(config.spoa),
  };
}
