import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ChannelOptions } from '@grpc/grpc-js';
import { Gauge } from 'prom-client';
import type { BanTableReader, ServiceNames } from '../../shared/bantable/index.js';
import { EdgebanError } from '../../shared/errors.js';
import type { Config, EnvoyConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { counterFeed, FeedSet } from '../metrics/feed.js';
import type { LatencyRecorder } from '../metrics/latency.js';
import type { Metrics } from '../metrics/registry.js';
import { feedProxyMetrics } from '../metrics/verdicts.js';
import type { AppContext, Service } from '../service.js';
import { EnvoyAdmission } from './admission.js';
import { GrpcBackend } from './backend.js';
import { CheckHandler, type CheckOptions, checkOptions } from './check.js';
import { CheckDecoder } from './check-decoder.js';
import { GRPC_INVALID_ARGUMENT } from './grpc-status.js';
import { GrpcFront } from './h2-front.js';
import { HealthService } from './health.js';
import { AUTH_SERVICE, CHECK_PATH } from './names.js';

export interface EnvoyServerOptions {
  config: EnvoyConfig;
  check: CheckOptions;
  table: BanTableReader;
  /** The table's service names (BanTable.services): the `service` context extension resolves there. */
  services?: ServiceNames;
  reasonText: (id: number) => string;
  log: Logger;
  metrics?: Metrics;
  /** How long health says NOT_SERVING before the listener closes (ms). */
  announceMs?: number;
  /** How long in-flight calls may take to finish once the listener is closed (ms). */
  drainMs?: number;
}

/**
 * gRPC settings for a peer that holds a few long-lived HTTP/2 connections (one per Envoy worker)
 * and multiplexes every check over them: many concurrent streams per connection, no connection
 * age limit, keep-alive pings so a vanished Envoy's connections are noticed, no channelz
 * bookkeeping on the hot path.
 */
export const GRPC_SERVER_OPTIONS: ChannelOptions = {
  'grpc.max_concurrent_streams': 1000,
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.enable_channelz': 0,
};

const NOT_A_CHECK = 'the request is not an envoy.service.auth.v3.CheckRequest';

/**
 * Envoy's ext_authz gRPC service (`envoy.service.auth.v3.Authorization/Check`) with the health
 * service and server reflection beside it (grpc-js, started by the first such call). Checks use
 * a hand-written codec (wire.ts, checked against our .proto by its tests and when the health
 * server starts); the answer is computed synchronously on the main thread from the ban table.
 */
export class EnvoyServer {
  readonly handler: CheckHandler;
  readonly health: HealthService;
  readonly log: Logger;
  private readonly backend: GrpcBackend;
  private readonly front: GrpcFront;
  readonly admission: EnvoyAdmission;
  private config: EnvoyConfig;
  private boundPort = 0;
  private readonly announceMs: number;
  private readonly drainMs: number;
  private duration: LatencyRecorder | null = null;
  private readonly feeds = new FeedSet();
  private stopping: Promise<void> | null = null;

  constructor(opts: EnvoyServerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.announceMs = opts.announceMs ?? 250;
    this.drainMs = opts.drainMs ?? 5_000;
    this.handler = new CheckHandler(opts.table, opts.reasonText, opts.check);
    this.health = new HealthService(['', AUTH_SERVICE]);
    const handler = this.handler;
    this.admission = new EnvoyAdmission(opts.config);
    if (opts.metrics) this.registerAdmissionMetrics(opts.metrics);
    const decoder = new CheckDecoder(opts.services ?? null);
    const backendSocket = join(backendSocketDir(), 'grpc.sock');
    this.backend = new GrpcBackend({
      socket: backendSocket,
      health: this.health,
      options: GRPC_SERVER_OPTIONS,
      log: this.log,
    });
    this.front = new GrpcFront({
      admission: this.admission,
      checkPath: CHECK_PATH,
      answer: (message) => {
        const t0 = performance.now();
        const res = handler.answer(decoder.decode(message, handler.wantHeaders), (Date.now() / 1000) | 0);
        this.duration?.observeMs(performance.now() - t0);
        return res ?? { code: GRPC_INVALID_ARGUMENT, message: NOT_A_CHECK };
      },
      backendSocket,
      backendReady: () => this.backend.ready(),
      log: this.log,
      maxMessage: GRPC_SERVER_OPTIONS['grpc.max_receive_message_length'] as number,
      maxConcurrentStreams: GRPC_SERVER_OPTIONS['grpc.max_concurrent_streams'] as number,
      keepaliveMs: GRPC_SERVER_OPTIONS['grpc.keepalive_time_ms'] as number,
      keepaliveTimeoutMs: GRPC_SERVER_OPTIONS['grpc.keepalive_timeout_ms'] as number,
    });
    if (opts.metrics) this.feedMetrics(opts.metrics);
  }

  /** Whether health and reflection (grpc-js) have started: not before a call asks for them. */
  get healthServerStarted(): boolean {
    return this.backend.started;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    const { address, port } = this.config;
    const host = address.startsWith('[') ? address.slice(1, -1) : address;
    // health and reflection (grpc-js on a private socket) start with the first call relayed there
    try {
      this.boundPort = await this.front.listen(host, port);
    } catch (err) {
      await this.backend.close();
      throw new EdgebanError(
        'E_LISTEN',
        `cannot listen on ${address}:${port} (envoy.address/envoy.port): ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.log.info({ address, port: this.boundPort }, 'Envoy ext_authz server started');
  }

  /** New `envoy.*` settings (and nginx.return_json) for the next checks; address/port need a restart. */
  reload(config: Config): void {
    if (config.envoy.address !== this.config.address || config.envoy.port !== this.config.port) {
      this.log.warn('envoy.address/envoy.port changed: takes effect after a restart');
    }
    this.handler.setOptions(checkOptions(config));
    this.admission.reload(config.envoy);
    this.config = { ...config.envoy, address: this.config.address, port: this.config.port };
  }

  /** Read on scrape from the admission's own counts. */
  private registerAdmissionMetrics(m: Metrics): void {
    const a = this.admission;
    const registers = [m.registry];
    const total = (name: string, help: string, read: () => number) =>
      this.feeds.add(counterFeed(m.registry, name, help).add(read));
    total(
      'edgeban_envoy_connections_rejected_total',
      'ext_authz connections closed at once because the peer is outside envoy.allowed_sources',
      () => a.rejected,
    );
    total(
      'edgeban_envoy_connections_refused_total',
      'ext_authz connections refused because envoy.max_connections or envoy.max_connections_per_source was reached',
      () => a.refused,
    );
    total(
      'edgeban_envoy_streams_refused_total',
      'ext_authz streams answered RESOURCE_EXHAUSTED because envoy.max_open_streams was reached',
      () => a.streamsRefused,
    );
    // read at scrape: the front is built after the metrics are registered
    const buffered = () => this.front.bufferedBytes;
    new Gauge({
      name: 'edgeban_envoy_buffered_bytes',
      help: 'request bytes held by unfinished Check messages on the ext_authz port (bounded: 16 MiB a connection, 64 MiB in all)',
      registers,
      collect() {
        this.set(buffered());
      },
    });
    new Gauge({
      name: 'edgeban_envoy_open_streams',
      help: 'HTTP/2 streams open on the ext_authz port',
      registers,
      collect() {
        this.set(a.openStreams);
      },
    });
  }

  /** Prometheus reads the handler's plain counters at scrape. */
  private feedMetrics(m: Metrics): void {
    const k = this.handler.counters;
    const f = this.feeds;
    f.add(m.requests.add(() => k.allowed, { service: 'envoy', result: 'allowed' }));
    f.add(m.requests.add(() => k.denied, { service: 'envoy', result: 'denied' }));
    // a check without a usable address is answered by envoy.missing_ip_policy: allowed or denied
    this.duration = feedProxyMetrics(m, f, 'envoy', {
      allowed: () => k.allowed,
      denied: () => k.denied,
      error: () => k.invalid + k.errors,
    });
  }

  /**
   * Graceful stop: health turns NOT_SERVING (Watch streams are told), checks are still answered
   * for `announceMs` so health checkers can see it, then the listener closes (GOAWAY), Watch
   * streams end and in-flight calls finish; whatever is left after `drainMs` is cut.
   */
  close(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.health.setAll('NOT_SERVING');
    if (this.announceMs > 0) await new Promise((r) => setTimeout(r, this.announceMs));
    this.health.endWatches();
    const drained = await this.front.close(this.drainMs);
    if (!drained)
      this.log.warn({ drain_ms: this.drainMs }, 'Envoy ext_authz calls still open after the drain time; cut');
    await this.backend.close(1000);
    rmSync(dirname(this.front.backendSocket), { recursive: true, force: true });
    this.feeds.detach();
  }
}

/** Folders of the private gRPC socket: `edgeban-grpc-<pid>-XXXXXX` in the OS temp folder. */
const SOCKET_DIR = /^edgeban-grpc-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * A folder for this process's private gRPC socket. Folders that processes of this user left
 * when they were killed (no stop, no cleanup) are removed first: their pid is gone.
 */
function backendSocketDir(): string {
  const tmp = tmpdir();
  try {
    for (const name of readdirSync(tmp)) {
      const m = SOCKET_DIR.exec(name);
      if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      const dir = join(tmp, name);
      if (statSync(dir).uid === process.getuid?.()) rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // a temp folder we cannot list: nothing to tidy
  }
  return mkdtempSync(join(tmp, `edgeban-grpc-${process.pid}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Envoy's ext_authz as a Service of the app. */
export function createEnvoyService(
  ctx: AppContext,
  deps: { table: BanTableReader; services?: ServiceNames; reasonText: (id: number) => string },
): Service & { server: EnvoyServer } {
  const server = new EnvoyServer({
    config: ctx.config.envoy,
    check: checkOptions(ctx.config),
    table: deps.table,
    services: deps.services,
    reasonText: deps.reasonText,
    log: ctx.log.child({ subsystem: 'envoy' }),
    metrics: ctx.metrics,
  });
  return {
    name: 'envoy',
    server,
    start: () => server.listen(),
    stop: () => server.close(),
    reload: (config) => server.reload(config),
  };
}
