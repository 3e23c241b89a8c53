import { createServer, type Server, type Socket } from 'node:net';
import { Counter, Gauge } from 'prom-client';
import type { BanTableReader } from '../../shared/bantable/index.js';
import { EdgebanError } from '../../shared/errors.js';
import type { SpoaConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { AppContext, Service } from '../service.js';
import { type ConnectionHost, SpoaConnection } from './connection.js';
import { encodeAgentDisconnect } from './frames.js';
import { NotifyAnswerer } from './notify.js';
import { Scope, Status } from './protocol.js';

export interface SpoaServerOptions {
  config: SpoaConfig;
  table: BanTableReader;
  reasonText: (id: number) => string;
  log: Logger;
  metrics?: Metrics;
}

/** Longest a new connection may take to send its HELLO. */
const HELLO_TIMEOUT_MS = 10_000;

/**
 * The SPOE agent: accepts HAProxy's connections, answers NOTIFYs from the ban table. Counters
 * are plain numbers on the hot path and reach Prometheus once a second.
 */
export class SpoaServer implements ConnectionHost {
  readonly answerer: NotifyAnswerer;
  readonly log: Logger;
  readonly maxFrameSize: number;
  readonly connections = new Set<SpoaConnection>();
  frames = 0;
  refused = 0;
  accepted = 0;
  healthchecks = 0;
  readonly errors = new Map<number, number>();
  private readonly config: SpoaConfig;
  private server: Server | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly metrics?: Metrics;
  private readonly prom?: {
    connections: Gauge;
    accepted: Counter;
    refused: Counter;
    errors: Counter<'status'>;
    frames: Counter;
  };
  private flushed = {
    allowed: 0,
    denied: 0,
    notifies: 0,
    refused: 0,
    accepted: 0,
    frames: 0,
    errors: new Map<number, number>(),
  };

  constructor(opts: SpoaServerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.maxFrameSize = opts.config.max_frame_size;
    const scope = Scope[opts.config.var_scope];
    if (scope === undefined)
      throw new EdgebanError('E_CONFIG', `spoa.var_scope: unknown scope "${opts.config.var_scope}"`);
    this.answerer = new NotifyAnswerer(
      opts.table,
      { scope, setReason: opts.config.set_reason, setTtl: opts.config.set_ttl },
      opts.reasonText,
    );
    this.metrics = opts.metrics;
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.prom = {
        connections: new Gauge({
          name: 'edgeban_spoa_connections',
          help: 'Open HAProxy connections',
          registers,
          collect: () => this.prom?.connections.set(this.connections.size),
        }),
        accepted: new Counter({
          name: 'edgeban_spoa_connections_total',
          help: 'HAProxy connections accepted',
          registers,
        }),
        refused: new Counter({
          name: 'edgeban_spoa_connections_refused_total',
          help: 'Connections refused because spoa.max_clients was reached',
          registers,
        }),
        errors: new Counter({
          name: 'edgeban_spoa_protocol_errors_total',
          help: 'Connections ended for a protocol error, by SPOP status code',
          labelNames: ['status'],
          registers,
        }),
        frames: new Counter({ name: 'edgeban_spoa_frames_total', help: 'SPOP frames read', registers }),
      };
    }
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
        this.sweeper = setInterval(() => this.sweep(), 1000);
        this.sweeper.unref();
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.config.max_clients) {
      // Refuse cleanly: HAProxy reads a DISCONNECT in place of the AGENT-HELLO it waits for.
      this.refused++;
      socket.on('error', () => {});
      socket.end(encodeAgentDisconnect(Status.RES, 'too many connections (spoa.max_clients)'));
      setTimeout(() => socket.destroy(), 1000).unref();
      if (this.refused % 1000 === 1) {
        this.log.warn(
          { max_clients: this.config.max_clients, refused: this.refused },
          'SPOA connection refused: spoa.max_clients reached',
        );
      }
      return;
    }
    this.accepted++;
    const c = new SpoaConnection(socket, this, Date.now());
    this.connections.add(c);
  }

  protocolError(status: number): void {
    this.errors.set(status, (this.errors.get(status) ?? 0) + 1);
  }

  connectionClosed(c: SpoaConnection): void {
    this.connections.delete(c);
  }

  helloDone(healthcheck: boolean): void {
    if (healthcheck) this.healthchecks++;
  }

  /**
   * Timeouts without a timer per connection: a HELLO that does not come, a frame that stays
   * incomplete (slowloris) or a connection idle for longer than `spoa.read_timeout`.
   */
  private sweep(): void {
    const now = Date.now();
    const rt = this.config.read_timeout;
    for (const c of this.connections) {
      if (!c.ready && now - c.openedAt > Math.min(rt, HELLO_TIMEOUT_MS)) {
        this.protocolError(Status.TIMEOUT);
        c.close(Status.TIMEOUT, 'no HELLO in time');
      } else if (c.partialSince !== 0 && now - c.partialSince > rt) {
        this.protocolError(Status.TIMEOUT);
        this.log.warn(
          { peer: c.peer, engine_id: c.engineId },
          'SPOA frame incomplete for too long, disconnecting',
        );
        c.close(Status.TIMEOUT, 'incomplete frame timed out');
      } else if (now - c.lastActivity > rt) {
        c.close(Status.NORMAL, 'idle timeout');
      }
    }
    this.flushMetrics();
  }

  /** Move the hot-path counters into Prometheus. */
  flushMetrics(): void {
    if (!this.metrics || !this.prom) return;
    const k = this.answerer.counters;
    const f = this.flushed;
    const m = this.metrics;
    if (k.allowed > f.allowed)
      m.requests.inc({ service: 'haproxy', result: 'allowed' }, k.allowed - f.allowed);
    if (k.denied > f.denied) m.requests.inc({ service: 'haproxy', result: 'denied' }, k.denied - f.denied);
    if (k.notifies > f.notifies)
      m.serviceRequests.inc({ service: 'haproxy', status: 'ok' }, k.notifies - f.notifies);
    if (this.accepted > f.accepted) this.prom.accepted.inc(this.accepted - f.accepted);
    if (this.refused > f.refused) this.prom.refused.inc(this.refused - f.refused);
    if (this.frames > f.frames) this.prom.frames.inc(this.frames - f.frames);
    for (const [status, n] of this.errors) {
      const before = f.errors.get(status) ?? 0;
      if (n > before) this.prom.errors.inc({ status: String(status) }, n - before);
    }
    this.flushed = {
      allowed: k.allowed,
      denied: k.denied,
      notifies: k.notifies,
      refused: this.refused,
      accepted: this.accepted,
      frames: this.frames,
      errors: new Map(this.errors),
    };
  }

  /** Stop accepting, say goodbye (AGENT-DISCONNECT 0) on every connection, wait for them to close. */
  async close(graceMs = 2000): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const c of this.connections) c.close(Status.NORMAL, 'agent shutting down');
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.socket.destroy();
    await closed;
    this.flushMetrics();
  }
}

/** The SPOA as a Service of the app. */
export function createSpoaService(
  ctx: AppContext,
  deps: { table: BanTableReader; reasonText: (id: number) => string },
): Service & { server: SpoaServer } {
  const server = new SpoaServer({
    config: ctx.config.spoa,
    table: deps.table,
    reasonText: deps.reasonText,
    log: ctx.log.child({ service: 'spoa' }),
    metrics: ctx.metrics,
  });
  return {
    name: 'spoa',
    server,
    start: () => server.listen(),
    stop: () => server.close(),
  };
}
