import { type Kysely, sql } from 'kysely';
import { backoffDelay } from '../../shared/backoff.js';
import type { DatabaseConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { type Connection, type DialectName, dialectOf, openDatabase } from './connect.js';
import { StoreUnavailableError } from './errors.js';
import type { Database } from './schema.js';
import { errText } from './text.js';

/** What the other parts of the store do at the link's turning points. */
export interface LinkHooks {
  /** On a fresh connection: migrate, seed, load the policy. Throwing fails the attempt. */
  prepare(db: Kysely<Database>): Promise<void>;
  /** Changes waiting for the database (for the log lines). */
  pending(): number;
  /** The database went away (before it is logged): the journal goes to disk. */
  down(): void;
  /** The database is back (after the ready listeners): the journal is written. */
  up(): void;
}

export interface LinkOptions {
  config: DatabaseConfig;
  log: Logger;
  metrics?: Metrics;
  cwd?: string;
  timeoutMs: number;
}

/**
 * The connection to the database: opening it (with the hooks' preparation), noticing it is gone,
 * reconnecting with backoff, and the state /database/status reports (failures, last error).
 */
export class Link {
  readonly dialect: DialectName;
  private conn: Connection | null = null;
  private connected = false;
  private stopped = false;
  private failureCount = 0;
  private lastError: string | undefined;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly readyListeners = new Set<() => void>();

  constructor(
    private readonly opts: LinkOptions,
    private readonly hooks: LinkHooks,
  ) {
    this.dialect = dialectOf(opts.config.driver);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The open connection, also while it is being prepared (null when there is none). */
  get current(): Connection | null {
    return this.conn;
  }

  get failures(): number {
    return this.failureCount;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** The connection for an operation, or StoreUnavailableError naming `what`. */
  db(what: string): Kysely<Database> {
    if (!this.conn || !this.connected) throw new StoreUnavailableError(what, this.lastError);
    return this.conn.db;
  }

  /** Called once per transition to "connected and migrated" (the restore waits for it). */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  begin(): void {
    this.stopped = false;
  }

  /** One attempt: open, prepare (migrate, seed, load). */
  async open(): Promise<boolean> {
    const cfg = this.opts.config;
    try {
      if (!this.conn) {
        this.conn = openDatabase(cfg.driver, cfg.dsn, {
          cwd: this.opts.cwd,
          timeoutMs: this.opts.timeoutMs,
          onIdleError: (err) =>
            this.opts.log.debug({ err: asError(err) }, 'database: idle connection closed'),
        });
      }
      await this.hooks.prepare(this.conn.db);
      this.markUp();
      return true;
    } catch (err) {
      this.op('connect', 'failure');
      this.markDown(err);
      await this.drop();
      return false;
    }
  }

  private markUp(): void {
    const wasDown = !this.connected;
    const failures = this.failureCount;
    this.connected = true;
    this.failureCount = 0;
    this.lastError = undefined;
    this.gauge();
    if (!wasDown) return;
    this.op('connect', 'success');
    if (failures > 0)
      this.opts.log.info(
        { failures, pending: this.hooks.pending(), driver: this.opts.config.driver },
        'database reachable again: writing the journaled changes',
      );
    for (const l of this.readyListeners) {
      try {
        l();
      } catch (err) {
        this.opts.log.error({ err }, 'database ready listener failed');
      }
    }
    this.hooks.up();
  }

  private markDown(err: unknown): void {
    const wasUp = this.connected;
    this.connected = false;
    this.failureCount++;
    this.lastError = errText(err);
    this.opts.metrics?.databaseConnectionsActive.set(0);
    // from now on the journal is on disk too (a kill during the outage must not lose it)
    this.hooks.down();
    if (wasUp)
      this.opts.log.error(
        { err: this.lastError, driver: this.opts.config.driver, pending: this.hooks.pending() },
        'database unavailable: serving from the cached configuration and ban state; changes are journaled until it returns',
      );
    else
      this.opts.log.warn({ err: this.lastError, failures: this.failureCount }, 'database still unavailable');
  }

  /** A failed attempt that is retried at once (the periodic reload): counted and reported, still up. */
  noteRetry(err: unknown): string {
    this.failureCount++;
    this.lastError = errText(err);
    return this.lastError;
  }

  /** Next reconnect attempt: retry_delay doubling per failure, capped (≤ 60 s, ≤ refresh_interval). */
  scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer || this.connected) return;
    const cfg = this.opts.config;
    const base = Math.max(50, cfg.retry_delay);
    const cap = Math.min(60_000, Math.max(base, cfg.refresh_interval));
    const delay = backoffDelay(this.failureCount - 1, base, cap);
    this.reconnectTimer = setTimeout(async () => {
      this.reconnectTimer = null;
      if (this.stopped) return;
      if (!(await this.open())) this.scheduleReconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /**
   * The database failed an operation: down, journal, reconnect. `on` is the connection the
   * operation used; a failure of an older one (replaced by a reconnect since) is ignored.
   */
  fail(err: unknown, on?: Connection | null): void {
    if (on !== undefined && on !== this.conn) return;
    if (!this.connected && !this.conn) return;
    this.markDown(err);
    this.drop().catch(() => {});
    this.scheduleReconnect();
  }

  /** Whether the database answers at all (a refused statement vs a lost connection). */
  async alive(conn: Connection): Promise<boolean> {
    try {
      await sql`select 1`.execute(conn.db);
      return true;
    } catch {
      return false;
    }
  }

  op(operation: string, status: 'success' | 'failure', n = 1): void {
    this.opts.metrics?.databaseOperations.inc({ operation, status }, n);
  }

  /** Open connections right now, to the gauge. */
  gauge(): void {
    this.opts.metrics?.databaseConnectionsActive.set(this.conn?.active() ?? 0);
  }

  /** No more reconnects (the store is stopping); the connection stays until `close`. */
  halt(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  async close(): Promise<void> {
    await this.drop();
    this.connected = false;
  }

  /** Closes the connection (pool); a pool whose server is gone may take long to end: not waited for more than 2 s. */
  private async drop(): Promise<void> {
    const c = this.conn;
    this.conn = null;
    if (!c) return;
    this.opts.metrics?.databaseConnectionsActive.set(0);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      c.close().catch(() => {}),
      new Promise<void>((r) => {
        timer = setTimeout(r, 2000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
