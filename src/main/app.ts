import type { AppContext, Service } from './service.js';

/**
 * The composition root: builds the shared state (ban table, engine, store) and the services from
 * the config, starts them in order and stops them in reverse order. Subsystems are wired in the
 * marked places below; each one is a Service created from the context.
 */
export class App {
  readonly ctx: AppContext;
  readonly services: Service[] = [];

  constructor(ctx: AppContext) {
    this.ctx = ctx;
    // wiring: shared state (ban table, engine, store) is created here.
    // wiring: services are pushed here, in start order.
  }

  async start(): Promise<void> {
    for (const s of this.services) {
      await s.start();
      this.ctx.log.info({ service: s.name }, `${s.name} started`);
    }
  }

  async stop(): Promise<void> {
    for (const s of [...this.services].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        this.ctx.log.error({ service: s.name, err }, `${s.name} did not stop cleanly`);
      }
    }
  }
}
