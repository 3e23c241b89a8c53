import type {
  Server,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  sendUnaryData,
} from '@grpc/grpc-js';
import { GRPC_NOT_FOUND } from './grpc-status.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

interface HealthCheckRequest {
  service: string;
}
interface HealthCheckResponse {
  status: ServingStatus | 'SERVICE_UNKNOWN' | 'UNKNOWN';
}

/**
 * `grpc.health.v1.Health` (Check, Watch, List) for the services this server answers. Unlike
 * grpc-health-check's implementation, open Watch streams are ended when the server shuts down,
 * after they have been told NOT_SERVING, so they never hold a graceful shutdown open.
 */
export class HealthService {
  private readonly status = new Map<string, ServingStatus>();
  private readonly watches = new Map<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>, string>();
  private closed = false;

  constructor(services: readonly string[], initial: ServingStatus = 'SERVING') {
    for (const s of services) this.status.set(s, initial);
  }

  get(service: string): ServingStatus | undefined {
    return this.status.get(service);
  }

  /** Set every service's status and tell the watchers. */
  setAll(s: ServingStatus): void {
    for (const name of this.status.keys()) this.status.set(name, s);
    for (const [call, name] of this.watches)
      call.write({ status: this.status.get(name) ?? 'SERVICE_UNKNOWN' });
  }

  /** End every Watch stream (status OK); later Watch calls get one answer and end at once. */
  endWatches(): void {
    this.closed = true;
    for (const call of this.watches.keys()) call.end();
    this.watches.clear();
  }

  get watchers(): number {
    return this.watches.size;
  }

  /** Serve Check, Watch and List on `server`; `definition` is grpc-health-check's `service`. */
  addToServer(server: Server, definition: ServiceDefinition): void {
    server.addService(definition, {
      check: (
        call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
        cb: sendUnaryData<HealthCheckResponse>,
      ) => {
        const s = this.status.get(call.request.service);
        if (s === undefined)
          cb({ code: GRPC_NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        else cb(null, { status: s });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const name = call.request.service;
        call.write({ status: this.status.get(name) ?? 'SERVICE_UNKNOWN' });
        if (this.closed) {
          call.end();
          return;
        }
        this.watches.set(call, name);
        call.on('cancelled', () => this.watches.delete(call));
      },
      list: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        const statuses: Record<string, { status: ServingStatus }> = {};
        for (const [name, s] of this.status) statuses[name] = { status: s };
        cb(null, { statuses });
      },
    });
  }
}
