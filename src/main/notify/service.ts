import { hostname } from 'node:os';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config/types.js';
import type { BanEngine } from '../engine/index.js';
import { type BanEvent, DEFAULT_JAIL } from '../engine/types.js';
import type { Quarantine } from '../ingest/pool.js';
import { LogThrottle } from '../log/throttle.js';
import type { AppContext, Service } from '../service.js';
import type { DatabaseStatus } from '../store/types.js';
import { LazyWebhookClient } from './client.js';
import { Delivery } from './delivery.js';
import type { NotifyEvent } from './types.js';

/** How often process states (quarantines, the database) are looked at for changes. */
const WATCH_MS = 1000;
/** Longest a stopping process waits for its last notifications. */
const STOP_MS = 3000;

export interface NotifySources {
  engine: BanEngine;
  quarantined: () => ReadonlyMap<string, Quarantine>;
  /** null: no database. */
  database: () => DatabaseStatus | null;
}

/**
 * Webhooks (`notify.webhooks`): bans and unbans from the engine's events, quarantines and
 * database outages from the process's own state, each sent to the webhooks that want them. Only
 * changes made on this node are sent: with a fleet, every node would otherwise tell of each ban.
 */
export class Notifier implements Service {
  readonly name = 'notify';
  deliveries: Delivery[] = [];
  private readonly ctx: AppContext;
  private readonly src: NotifySources;
  private readonly node: string;
  private readonly throttle: LogThrottle;
  /** undici and its pool, loaded when a webhook first posts. */
  readonly client = new LazyWebhookClient();
  private off: (() => void) | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private known = new Set<string>();
  private dbUp: boolean | null = null;

  constructor(ctx: AppContext, src: NotifySources) {
    this.ctx = ctx;
    this.src = src;
    this.node = ctx.config.fleet.node || hostname();
    const log = ctx.log.child({ subsystem: 'notify' });
    this.throttle = new LogThrottle(log);
    this.deliveries = this.build(ctx.config);
    this.registerMetrics();
  }

  private build(config: Config): Delivery[] {
    const n = config.notify;
    return n.webhooks.map((h, i) => new Delivery(h, i, n, this.node, this.client, this.throttle));
  }

  async start(): Promise<void> {
    this.known = new Set(this.src.quarantined().keys());
    this.dbUp = this.src.database()?.connected ?? null;
    this.off = this.src.engine.onEvent((e) => this.onBanEvent(e));
    this.watcher = setInterval(() => this.watch(), WATCH_MS);
    this.watcher.unref();
  }

  async stop(): Promise<void> {
    this.off?.();
    this.off = null;
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = null;
    const lost = await Promise.all(this.deliveries.map((d) => d.stop(STOP_MS)));
    const total = lost.reduce((a, b) => a + b, 0);
    if (total > 0)
      this.ctx.log.warn(
        { subsystem: 'notify', lost: total },
        'notifications not sent before the process stopped',
      );
    await this.client.close();
  }

  /** New webhooks take over; what the old ones still held is sent by them before they go. */
  async reload(config: Config): Promise<void> {
    const old = this.deliveries;
    this.deliveries = this.build(config);
    await Promise.all(old.map((d) => d.stop(STOP_MS)));
  }

  /** Hands one event to each webhook that wants it. */
  emit(e: NotifyEvent): void {
    for (const d of this.deliveries) if (d.wants(e)) d.push(e);
  }

  private onBanEvent(e: BanEvent): void {
    if (this.deliveries.length === 0) return;
    if (e.type === 'ban') {
      if (e.origin === 'fleet') return;
      const r = e.record;
      this.emit({
        type: 'ban',
        at: r.createdAt,
        node: r.node,
        jail: r.jail ?? DEFAULT_JAIL,
        ip: r.target,
        kind: r.kind,
        reason: r.reason,
        pattern: r.pattern,
        expiresAt: r.expiresAt,
        by: r.createdBy,
        offences: r.offences,
      });
    } else if (e.type === 'unban') {
      if (e.origin === 'fleet') return;
      this.emit({
        type: 'unban',
        at: e.at,
        node: this.node,
        jail: e.jail ?? DEFAULT_JAIL,
        ip: e.target,
        kind: e.kind,
        reason: e.reason,
        by: e.by,
      });
    }
  }

  /** Quarantines and database outages are states: a change is an event. */
  watch(now = Date.now()): void {
    if (this.deliveries.length === 0) return;
    const q = this.src.quarantined();
    for (const [name, info] of q) {
      if (this.known.has(name)) continue;
      this.emit({
        type: 'quarantine',
        at: info.since,
        node: this.node,
        jail: null,
        name,
        reason: info.reason,
      });
    }
    this.known = new Set(q.keys());
    const db = this.src.database();
    if (db === null) return;
    if (this.dbUp !== null && db.connected !== this.dbUp) {
      this.emit(
        db.connected
          ? { type: 'database_up', at: now, node: this.node, jail: null, detail: db.driver }
          : {
              type: 'database_down',
              at: now,
              node: this.node,
              jail: null,
              detail: db.last_error ? `${db.driver}: ${db.last_error}` : db.driver,
            },
      );
    }
    this.dbUp = db.connected;
  }

  private registerMetrics(): void {
    const registers = [this.ctx.metrics.registry];
    const me = this;
    const perHook = (read: (d: Delivery) => number) =>
      function (this: Counter<'webhook'> | Gauge<'webhook'>) {
        this.reset();
        for (const d of me.deliveries) {
          if (this instanceof Gauge) this.set({ webhook: d.label }, read(d));
          else this.inc({ webhook: d.label }, read(d));
        }
      };
    if (this.ctx.metrics.registry.getSingleMetric('edgeban_notify_sent_total')) return;
    new Counter({
      name: 'edgeban_notify_sent_total',
      help: 'Notifications a webhook accepted (2xx)',
      labelNames: ['webhook'],
      registers,
      collect: perHook((d) => d.sent),
    });
    new Counter({
      name: 'edgeban_notify_dropped_total',
      help: 'Notifications dropped: the queue was full (notify.queue_size) or the webhook refused them (4xx)',
      labelNames: ['webhook'],
      registers,
      collect: perHook((d) => d.queue.dropped + d.refused),
    });
    new Counter({
      name: 'edgeban_notify_failures_total',
      help: 'POSTs to a webhook that failed and will be sent again',
      labelNames: ['webhook'],
      registers,
      collect: perHook((d) => d.failures),
    });
    new Gauge({
      name: 'edgeban_notify_queued',
      help: 'Notifications waiting for their webhook',
      labelNames: ['webhook'],
      registers,
      collect: perHook((d) => d.queue.size),
    });
  }
}

/** The notify subsystem; without webhooks it holds nothing and looks at nothing. */
export function createNotifyService(ctx: AppContext, src: NotifySources): Notifier {
  return new Notifier(ctx, src);
}
