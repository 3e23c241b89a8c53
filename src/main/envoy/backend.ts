import type { ChannelOptions, Server } from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import type { HealthService } from './health.js';

/** How long a failed start answers UNAVAILABLE before a call may try again. */
const RETRY_MS = 5_000;

export interface BackendOptions {
  /** The private unix socket the front relays to. */
  socket: string;
  health: HealthService;
  options: ChannelOptions;
  log: Logger;
}

/**
 * The grpc-js server behind the ext_authz port: health and reflection, on a private unix socket.
 * It is started by the first call the front relays, not at start: grpc-js, protobufjs and the
 * parsed .proto files cost ~25 MB of RSS, and an edge whose Envoy never asks for health or
 * reflection (or that has no Envoy at all) should not pay for them.
 */
export class GrpcBackend {
  private readonly o: BackendOptions;
  private server: Server | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;

  constructor(o: BackendOptions) {
    this.o = o;
  }

  get started(): boolean {
    return this.server !== null;
  }

  /**
   * Resolves once the server listens on the socket; every caller shares the one start. A failed
   * start is tried again by a call `RETRY_MS` later, not by each one: a client repeating health
   * calls while the socket cannot be bound does not make the .proto files parsed again each time.
   */
  ready(): Promise<void> {
    this.starting ??= this.start().catch((err: unknown) => {
      setTimeout(() => {
        this.starting = null;
      }, RETRY_MS).unref();
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    if (this.closed) throw new Error('the ext_authz server is shutting down');
    const [grpc, { ReflectionService }, { service: healthDefinition }, proto] = await Promise.all([
      import('@grpc/grpc-js'),
      import('@grpc/reflection'),
      import('grpc-health-check'),
      import('./proto.js'),
    ]);
    const definitions = proto.loadDefinitions();
    proto.assertWireLayout(definitions);
    const server = new grpc.Server(this.o.options);
    this.o.health.addToServer(server, healthDefinition);
    new ReflectionService(definitions).addToServer(server);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${this.o.socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      );
    });
    if (this.closed) {
      server.forceShutdown();
      throw new Error('the ext_authz server is shutting down');
    }
    this.server = server;
    this.o.log.debug({ socket: this.o.socket }, 'ext_authz health and reflection server started');
  }

  /** Graceful stop of calls in flight, cut after `cutMs`; nothing to do if it never started. */
  async close(cutMs = 1000): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => {});
    const server = this.server;
    if (server === null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, cutMs);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
