/**
 * The fleet bus: nodes sharing one PostgreSQL database tell each other about bans and
 * unbans with NOTIFY on one channel and apply what the others say. Each node keeps writing its
 * own bans through the store; the bus only carries them to the other nodes' ban tables at once.
 * After a lost connection the node re-reads the other nodes' active bans from the `bans` table
 * (catching up what it missed, dropping what was lifted meanwhile) and asks the store to reload
 * the lists.
 */
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import { Backoff } from '../../shared/backoff.js';
import type { BanEngine } from '../engine/engine.js';
import type { BanEvent } from '../engine/types.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import { asError, type Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { postgresConfig } from '../store/connect.js';
import { pgModule } from '../store/drivers.js';
import type { Store } from '../store/types.js';
import { decodeMessage, encodeMessages, type FleetEvent } from './messages.js';

export interface FleetBusOptions {
  dsn: string;
  channel: string;
  /** Signs and checks the messages (fleetKey of fleet.secret). */
  key: Buffer;
  engine: Pick<BanEngine, 'onEvent' | 'applyRemote' | 'remoteTempBans' | 'node'>;
  log: Logger;
  metrics?: Metrics;
  /** After a reconnection: re-read the lists (the store's reload). */
  reloadLists?: () => Promise<void>;
  /** After a reconnection: the other nodes' active bans, read from the store's `bans` table. */
  bans?: Pick<Store, 'readOtherNodesBans' | 'isConnected' | 'onReady'>;
  /**
   * How long a node may take to write a ban it announced (its batched writes): a remote ban
   * younger than this and missing from the table is not taken for lifted (ms).
   */
  writeGraceMs?: number;
  /** Reconnection delays: first, and the cap of the doubling (ms). */
  retryMs?: [number, number];
}

/** Events kept for sending while the connection is down; beyond, the oldest go (counted). */
const MAX_PENDING = 100_000;

export class FleetBus {
  private client: pg.Client | null = null;
  private connected = false;
  private stopping = false;
  private pending: FleetEvent[] = [];
  private flushing = false;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly retry: Backoff;
  private nameClashLogged = false;
  /** A catch-up waits for the store to reconnect. */
  private waitingForStore = false;
  private readonly unsubscribe: () => void;
  private readonly log: Logger;
  private readonly m?: {
    connected: Gauge;
    messages: Counter<'direction'>;
    events: Counter<'direction' | 'type'>;
    errors: Counter<'reason'>;
    dropped: Counter;
    delay: Histogram;
  };
  /** More channels on this connection (fleet-wide counting): name → payload handler. */
  private readonly extra = new Map<string, (payload: string) => void>();
  /** Counts for tests and the status endpoint (plain numbers). */
  readonly stats = { sent: 0, received: 0, applied: 0, rejected: 0, dropped: 0, reconnects: 0 };

  constructor(private readonly opts: FleetBusOptions) {
    this.log = opts.log;
    const [first, cap] = opts.retryMs ?? [500, 30_000];
    this.retry = new Backoff(first, cap);
    this.unsubscribe = opts.engine.onEvent((e) => this.onLocalEvent(e));
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        connected: new Gauge({
          name: 'edgeban_fleet_connected',
          help: '1 while the fleet channel is listened to',
          registers,
        }),
        messages: new Counter({
          name: 'edgeban_fleet_messages_total',
          help: 'Fleet notifications sent and received',
          labelNames: ['direction'],
          registers,
        }),
        events: new Counter({
          name: 'edgeban_fleet_events_total',
          help: 'Bans and unbans sent to and applied from the fleet',
          labelNames: ['direction', 'type'],
          registers,
        }),
        errors: new Counter({
          name: 'edgeban_fleet_errors_total',
          help: 'Fleet failures: refused messages, lost connections, failed sends',
          labelNames: ['reason'],
          registers,
        }),
        dropped: new Counter({
          name: 'edgeban_fleet_dropped_events_total',
          help: 'Events not sent because too many waited while the connection was down',
          registers,
        }),
        delay: new Histogram({
          name: 'edgeban_fleet_propagation_seconds',
          help: 'From a ban on another node to it applied here (node clocks included)',
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
          registers,
        }),
      };
    }
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects in the background: a database that is down delays sharing, never the start. */
  start(): void {
    this.stopping = false;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // what this node did last still reaches the others
    if (this.connected) await this.flush().catch(() => {});
    const c = this.client;
    this.client = null;
    this.setConnected(false);
    if (c) await c.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.stopping || this.client) return;
    const { channel, dsn } = this.opts;
    const client = new (pgModule().Client)({
      ...postgresConfig(dsn),
      connectionTimeoutMillis: 10_000,
      // pg_stat_activity tells an operator which node holds which listening connection
      application_name: `edgeban-fleet ${this.opts.engine.node}`.slice(0, 63),
    });
    this.client = client;
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    client.on('notification', (n) => {
      if (n.payload === undefined) return;
      if (n.channel === channel) this.onMessage(n.payload, n.processId);
      else this.extra.get(n.channel)?.(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      for (const c of this.extra.keys()) await client.query(`LISTEN "${c}"`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.client !== client) return;
    this.setConnected(true);
    this.retry.reset();
    this.log.info({ channel, node: this.opts.engine.node }, 'fleet channel listened to');
    await this.catchUp(this.stats.reconnects > 0);
    this.scheduleFlush();
  }

  /**
   * Listens to one more channel on the bus's connection (now, and after every reconnection);
   * `handler` gets each payload, this node's own included.
   */
  listen(channel: string, handler: (payload: string) => void): void {
    this.extra.set(channel, handler);
    if (this.connected && this.client)
      this.client.query(`LISTEN "${channel}"`).catch((err: Error) => {
        this.log.warn({ err, channel }, 'fleet: LISTEN failed');
      });
  }

  /**
   * Sends `payloads` on `channel`, in order, on the bus's connection; resolves how many went out
   * (none while the connection is down: these are not kept for later).
   */
  async notify(channel: string, payloads: readonly string[]): Promise<number> {
    let sent = 0;
    for (const p of payloads) {
      const c = this.client;
      if (!this.connected || !c) break;
      try {
        await c.query('SELECT pg_notify($1, $2)', [channel, p]);
      } catch (err) {
        this.m?.errors.inc({ reason: 'send' });
        this.log.warn({ err: asError(err), channel }, 'fleet notification failed');
        break;
      }
      sent++;
    }
    return sent;
  }

  /** The connection is gone (error, server restart, terminated backend): retry with backoff. */
  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== client) return;
    this.client = null;
    const was = this.connected;
    this.setConnected(false);
    client.end().catch(() => {});
    if (this.stopping) return;
    this.m?.errors.inc({ reason: 'connection' });
    const delay = this.retry.next();
    if (was) this.stats.reconnects++;
    this.log.warn(
      { err: err ?? new Error('connection ended'), retry_ms: delay },
      was ? 'fleet connection lost; reconnecting' : 'fleet channel unavailable; retrying',
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private setConnected(v: boolean): void {
    this.connected = v;
    this.m?.connected.set(v ? 1 : 0);
  }

  /**
   * After a reconnection: the other nodes' active bans from the shared table, applied when new
   * or longer here; bans from other nodes this node still holds but the table no longer has were
   * lifted while we were away. Then the lists, through the store's reload. (At start the store's
   * restore has just read all of it.) Read in pages, the loop free in between, as the restore.
   */
  private async catchUp(again: boolean): Promise<void> {
    if (!again) return;
    const now = Date.now();
    const source = this.opts.bans;
    if (source && !source.isConnected) {
      // the store lost the database too and reconnects on its own schedule (reloading the lists
      // as it does): catch up once it is back
      if (this.waitingForStore) return;
      this.waitingForStore = true;
      const off = source.onReady(() => {
        off();
        this.waitingForStore = false;
        if (this.connected && !this.stopping) void this.catchUp(true);
      });
      return;
    }
    try {
      if (!source) throw new Error('no store to read the bans table through');
      const present = new Set<string>();
      let applied = 0;
      await source.readOtherNodesBans(this.opts.engine.node, now, async (bans) => {
        for (const record of bans) {
          present.add(`${record.jail ?? DEFAULT_JAIL}|${record.target}`);
          if (this.opts.engine.applyRemote({ type: 'ban', record })) applied++;
        }
        await new Promise((r) => setImmediate(r));
      });
      let lifted = 0;
      for (const r of this.opts.engine.remoteTempBans(now - (this.opts.writeGraceMs ?? 5_000))) {
        if (present.has(`${r.jail ?? DEFAULT_JAIL}|${r.target}`)) continue;
        const e: FleetEvent = {
          type: 'unban',
          target: r.target,
          kind: 'temp',
          by: r.node,
          reason: 'lifted on its node',
          at: now,
          jail: r.jail ?? DEFAULT_JAIL,
        };
        if (this.opts.engine.applyRemote(e)) lifted++;
      }
      if (applied > 0 || lifted > 0)
        this.log.info({ applied, lifted }, 'fleet caught up from the bans table');
    } catch (err) {
      this.log.warn({ err: asError(err) }, 'fleet catch-up from the bans table failed');
      this.m?.errors.inc({ reason: 'catch_up' });
    }
    await this.opts.reloadLists?.().catch((err: Error) => {
      this.log.warn({ err }, 'fleet: list reload after reconnecting failed');
    });
  }

  private onLocalEvent(e: BanEvent): void {
    if (e.type !== 'ban' && e.type !== 'unban') return;
    if (e.origin === 'fleet') return; // another node's: it published it
    // a shadow jail's would-be bans stay on the node that reports them
    if ((e.type === 'ban' && e.record.shadow === true) || (e.type === 'unban' && e.shadow === true)) return;
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.stats.dropped++;
      this.m?.dropped.inc();
      if (this.stats.dropped % 10_000 === 1)
        this.log.warn({ dropped: this.stats.dropped }, 'fleet: events dropped while the connection is down');
    }
    this.pending.push(e);
    this.scheduleFlush();
  }

  /** Events of one loop turn go out together (a purge or a log burst is a few messages, not one each). */
  private scheduleFlush(): void {
    if (this.flushScheduled || !this.connected || this.pending.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush().catch(() => {});
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && this.connected && this.client) {
        const batch = this.pending.splice(0, 1000);
        const payloads = encodeMessages(this.opts.key, this.opts.engine.node, batch);
        try {
          for (const p of payloads) {
            await this.client.query('SELECT pg_notify($1, $2)', [this.opts.channel, p]);
            this.stats.sent++;
            this.m?.messages.inc({ direction: 'sent' });
          }
        } catch (err) {
          // sent again after reconnecting (duplicates are harmless: applying is idempotent)
          this.pending.unshift(...batch);
          this.m?.errors.inc({ reason: 'send' });
          this.log.warn({ err: asError(err), events: batch.length }, 'fleet notification failed');
          return;
        }
        for (const e of batch) this.m?.events.inc({ direction: 'sent', type: e.type });
      }
    } finally {
      this.flushing = false;
    }
  }

  private onMessage(payload: string, senderPid: number): void {
    let msg: ReturnType<typeof decodeMessage>;
    try {
      msg = decodeMessage(this.opts.key, payload);
    } catch (err) {
      this.stats.rejected++;
      this.m?.errors.inc({ reason: 'message' });
      this.log.warn({ err: asError(err), bytes: payload.length }, 'fleet message refused');
      return;
    }
    if (msg.node === this.opts.engine.node) {
      // our own, echoed by the server; from another backend it is another node with our name
      const own = (this.client as (pg.Client & { processID?: number }) | null)?.processID;
      if (own !== undefined && senderPid !== own && !this.nameClashLogged) {
        this.nameClashLogged = true;
        this.log.error(
          { node: msg.node, sender_pid: senderPid },
          "another node of the fleet uses this node's name (fleet.node): its bans are not applied here",
        );
      }
      return;
    }
    this.stats.received++;
    this.m?.messages.inc({ direction: 'received' });
    const now = Date.now();
    for (const e of msg.events) {
      let changed = false;
      try {
        changed = this.opts.engine.applyRemote(e);
      } catch (err) {
        this.log.warn({ err: asError(err), node: msg.node }, 'fleet event not applied');
        continue;
      }
      if (!changed) continue;
      this.stats.applied++;
      this.m?.events.inc({ direction: 'received', type: e.type });
      const at = e.type === 'ban' ? e.record.createdAt : e.at;
      this.m?.delay.observe(Math.max(0, now - at) / 1000);
      if (e.type === 'ban')
        this.log.info(
          { ip: e.record.target, node: msg.node, kind: e.record.kind, expires_at: e.record.expiresAt },
          'ban from the fleet applied',
        );
      else this.log.info({ ip: e.target, node: msg.node, kind: e.kind }, 'unban from the fleet applied');
    }
  }
}
