import { BanTable, Kind, type KindCode } from '../shared/bantable/index.js';
import { parseCidr } from '../shared/ip/parse.js';
import type { Config, ListEntryConfig } from './config/types.js';
import { createMetricsService } from './metrics/server.js';
import type { AppContext, Service } from './service.js';
import { createSpoaService } from './spoa/server.js';

/**
 * The composition root: builds the shared state (ban table, engine, store) and the services from
 * the config, starts them in order and stops them in reverse order. Subsystems are wired in the
 * marked places below; each one is a Service created from the context.
 */
export class App {
  readonly ctx: AppContext;
  readonly services: Service[] = [];
  readonly table: BanTable;
  /** Static list entries from the config file, so a reload can replace them. */
  private configLists: { bytes: Uint8Array; family: 4 | 6; prefixLen: number; kind: KindCode }[] = [];

  constructor(ctx: AppContext) {
    this.ctx = ctx;
    // wiring: shared state (ban table, engine, store) is created here.
    this.table = new BanTable({ initialCapacity: 1 << 16 });
    this.applyConfigLists(ctx.config);
    // wiring: services are pushed here, in start order.
    if (ctx.config.prometheus.enabled) this.services.push(createMetricsService(ctx));
    if (ctx.config.spoa.enabled) {
      this.services.push(
        createSpoaService(ctx, { table: this.table, reasonText: (id) => this.table.reasonText(id) }),
      );
    }
    const pending = [
      ctx.config.envoy.enabled && 'envoy (gRPC ext_authz, issue #8)',
      ctx.config.nginx.enabled && 'nginx auth_request and the REST API (issue #7)',
      'syslog ingestion (issue #5)',
      ctx.config.database.enabled && 'the SQL store (issue #6)',
    ].filter(Boolean);
    for (const p of pending) ctx.log.warn({ subsystem: p }, `${p}: not yet available in this build`);
  }

  async start(): Promise<void> {
    const started: Service[] = [];
    try {
      for (const s of this.services) {
        await s.start();
        started.push(s);
        this.ctx.log.info({ service: s.name }, `${s.name} started`);
      }
    } catch (err) {
      // a listener that cannot bind is fatal: stop what already runs, then report
      for (const s of started.reverse()) await s.stop().catch(() => {});
      throw err;
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

  /** Apply a new, already validated config without a restart (SIGHUP). */
  async reload(config: Config): Promise<void> {
    this.ctx.config = config;
    this.ctx.log.level = config.log.level;
    this.applyConfigLists(config);
    for (const s of this.services) await s.reload?.(config);
  }

  /** The `blacklist` / `whitelist` sections go straight into the table as permanent entries. */
  private applyConfigLists(config: Config): void {
    for (const e of this.configLists) this.table.delete(e.bytes, e.family, e.prefixLen, e.kind);
    this.configLists = [];
    const add = (entries: ListEntryConfig[], kind: KindCode) => {
      for (const entry of entries) {
        const c = parseCidr(entry.ip);
        this.table.set(
          c.bytes,
          c.family,
          c.prefixLen,
          kind,
          0,
          0,
          this.table.reasonId(entry.reason || 'config'),
        );
        this.configLists.push({ bytes: c.bytes, family: c.family, prefixLen: c.prefixLen, kind });
      }
    };
    add(config.blacklist, Kind.BLACKLIST);
    add(config.whitelist, Kind.WHITELIST);
  }
}
