import type { Kysely } from 'kysely';
import type { DatabaseConfig } from '../config/types.js';
import type { EndedBan } from '../engine/history.js';
import { banRecordAt, offenceRecordAt } from '../engine/restore-rows.js';
import type { BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import type { JailInput } from '../jails/fields.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { DialectName } from './connect.js';
import { StoreUnavailableError } from './errors.js';
import { type HistoryPage, type HistoryQuery, historyRowOf, readHistory } from './history.js';
import { HistoryPurge } from './history-purge.js';
import { JailAdmin } from './jail-admin.js';
import type { StoredJail } from './jail-rows.js';
import type { WriteJournal } from './journal.js';
import { Link } from './link.js';
import { migrate } from './migrations.js';
import { type PatternInput, PolicyAdmin } from './policy-admin.js';
import { PolicyCache } from './policy-cache.js';
import { PolicyLoader } from './policy-loader.js';
import { type RecentBan, readRecentBans } from './recent-bans.js';
import { readOtherNodesBans } from './remote-bans.js';
import { readState } from './restore-reader.js';
import type { Database } from './schema.js';
import { type SeedData, seedDatabase } from './seed.js';
import { stateDigest } from './state-digest.js';
import type {
  BanConfigRow,
  ConfigSourceName,
  ConfigSourceStatus,
  DatabaseStatus,
  JailRowError,
  PatternRow,
  PolicySnapshot,
  StatePage,
  Store,
} from './types.js';
import { Writer } from './writer.js';

export interface SqlStoreOptions {
  config: DatabaseConfig;
  log: Logger;
  metrics?: Metrics;
  /** An empty database is seeded with these: the file's patterns (or the built-ins) and ban policy. */
  seed: SeedData;
  /** Folder a relative SQLite path is resolved against (default: the working folder). */
  cwd?: string;
  /** Most changes kept while the database is down (default 1,000,000). */
  journalMax?: number;
  /** Where the journal goes on disk while the database is down (null: memory only). */
  journalFile?: string | null;
  /** Longest a connection attempt or statement may take (ms, default 10 s). */
  timeoutMs?: number;
  /**
   * File keeping the last good copy of the database's policy, used when edgeban starts while the
   * database is down (null: none; SQLite needs none, the database is a local file already).
   */
  cacheFile?: string | null;
  /** How often the history retention purge runs (ms, default 1 min). */
  historyPurgeIntervalMs?: number;
  /** The stop takes the state fingerprint (`stopDigest`) for a state snapshot (default off). */
  digestOnStop?: boolean;
  /** Most history rows one purge run deletes (default 5,000). */
  historyPurgeBatch?: number;
}

const HISTORY_PURGE_INTERVAL = 60_000;
const HISTORY_PURGE_BATCH = 5_000;
/** Ended bans kept in memory for the history while the database is down. */
const HISTORY_QUEUE_MAX = 100_000;

/**
 * The SQL store over Kysely: SQLite (default, in its own thread), PostgreSQL or MySQL/MariaDB.
 * A thin front over parts with one job each: the `Link` (connection, reconnect with backoff), the
 * `Writer` (engine events written behind in batches, journaled and mirrored on disk while the
 * database is down), the `PolicyLoader` (patterns, ban_config and lists re-read every
 * `database.refresh_interval`, validated, with the last good copy kept), the restore read, the
 * `PolicyAdmin` (the API's pattern and ban_config editing) and the seed of an empty database.
 */
export class SqlStore implements Store {
  private stopDigestValue: string | null = null;
  readonly dialect: DialectName;
  private readonly cfg: DatabaseConfig;
  private readonly log: Logger;
  private readonly link: Link;
  private readonly writer: Writer;
  private readonly policy: PolicyLoader;
  private readonly admin: PolicyAdmin;
  private readonly jails: JailAdmin;
  private readonly cacheFile: string | null;
  private readonly purge: HistoryPurge;

  constructor(private readonly opts: SqlStoreOptions) {
    const cfg = opts.config;
    this.cfg = cfg;
    this.log = opts.log;
    this.cacheFile = opts.cacheFile ?? null;
    this.link = new Link(
      {
        config: cfg,
        log: opts.log,
        metrics: opts.metrics,
        cwd: opts.cwd,
        timeoutMs: opts.timeoutMs ?? 10_000,
      },
      {
        prepare: (db) => this.prepare(db),
        pending: () => this.writer.journal.size,
        down: () => this.writer.down(),
        up: () => this.writer.up(),
      },
    );
    this.dialect = this.link.dialect;
    this.writer = new Writer({
      link: this.link,
      log: opts.log,
      flushIntervalMs: cfg.flush_interval,
      journalMax: opts.journalMax ?? 1_000_000,
      journalFile: opts.journalFile ?? null,
      variants: (kind, target) => this.policy.variantsOf(kind, target),
      historyMax: cfg.history_retention > 0 ? HISTORY_QUEUE_MAX : 0,
    });
    this.purge = new HistoryPurge({
      link: this.link,
      log: opts.log,
      retentionMs: cfg.history_retention,
      intervalMs: opts.historyPurgeIntervalMs ?? HISTORY_PURGE_INTERVAL,
      batch: opts.historyPurgeBatch ?? HISTORY_PURGE_BATCH,
    });
    const cache = this.cacheFile
      ? new PolicyCache(this.cacheFile, cfg.driver, cfg.dsn, opts.log, (key, fields, msg) =>
          this.policy.reportOnce(key, fields, msg),
        )
      : null;
    this.policy = new PolicyLoader({
      config: cfg,
      link: this.link,
      writer: this.writer,
      log: opts.log,
      metrics: opts.metrics,
      fallbackMemoryTtlMs: opts.seed.policy.maxMemoryTtl,
      cache,
    });
    this.admin = new PolicyAdmin(this.link, opts.log, () => this.policy.reload());
    this.jails = new JailAdmin(this.link, opts.log, this.admin);
  }

  /** The changes waiting to be written (latest per target). */
  get journal(): WriteJournal {
    return this.writer.journal;
  }

  // --- lifecycle ---------------------------------------------------------------------------

  async start(): Promise<void> {
    this.link.begin();
    await this.writer.start();
    this.policy.start();
    this.purge.start();
    if (await this.link.open()) return;
    if (await this.policy.loadCache())
      this.log.warn(
        { driver: this.cfg.driver, err: this.link.error, cache: this.cacheFile },
        'database unavailable at start: serving the last good copy of its policy until it answers; retrying',
      );
    else
      this.log.warn(
        { driver: this.cfg.driver, err: this.link.error },
        'database unavailable at start: serving from the configuration file until it answers; retrying',
      );
    this.link.scheduleReconnect();
  }

  async stop(): Promise<void> {
    this.link.halt();
    this.purge.halt();
    this.writer.halt();
    this.policy.halt();
    await this.writer.finish();
    await this.policy.idle();
    await this.purge.idle();
    await this.writer.close();
    // nothing left unwritten: the database holds what the engine holds (the state snapshot's mark)
    if (this.opts.digestOnStop === true && this.writer.journal.size === 0)
      this.stopDigestValue = await stateDigest(this.link);
    await this.link.close();
  }

  stateDigest(): Promise<string | null> {
    return stateDigest(this.link);
  }

  get stopDigest(): string | null {
    return this.stopDigestValue;
  }

  /** A fresh connection: migrate, seed an empty database, load the policy. */
  private async prepare(db: Kysely<Database>): Promise<void> {
    const applied = await migrate(db as unknown as Kysely<unknown>, this.dialect);
    if (applied.length > 0)
      this.log.info({ migrations: applied, driver: this.cfg.driver }, 'database schema migrated');
    this.link.op('migrate', 'success');
    await seedDatabase(db, this.dialect, this.opts.seed, this.log);
    await this.policy.reload();
  }

  onReady(listener: () => void): () => void {
    return this.link.onReady(listener);
  }

  get isConnected(): boolean {
    return this.link.isConnected;
  }

  takeRecovered(): BanEvent[] {
    return this.writer.takeRecovered();
  }

  // --- writes ------------------------------------------------------------------------------

  enqueue(e: BanEvent): void {
    this.writer.enqueue(e);
  }

  flush(): Promise<{ durable: boolean }> {
    return this.writer.flush();
  }

  recordEnded(e: EndedBan): void {
    if (this.cfg.history_retention <= 0) return;
    const row = historyRowOf(e);
    if (row) this.writer.enqueueHistory(row);
  }

  // --- history -------------------------------------------------------------------------------

  async readHistory(q: HistoryQuery): Promise<HistoryPage> {
    const conn = this.link.current;
    if (!conn || !this.link.isConnected)
      throw new StoreUnavailableError('reading the ban history', this.link.error);
    return readHistory(conn.db, q);
  }

  async readRecentBans(sinceMs: number, limit: number): Promise<RecentBan[]> {
    const conn = this.link.current;
    if (!conn || !this.link.isConnected)
      throw new StoreUnavailableError('reading the recent bans', this.link.error);
    return readRecentBans(conn.db, sinceMs, limit);
  }

  purgeHistory(nowMs: number): Promise<number> {
    return this.purge.runOnce(nowMs);
  }

  // --- reads of persisted bans ---------------------------------------------------------------

  async loadState(nowMs: number): Promise<{ bans: BanRecord[]; offences: OffenceRecord[] }> {
    const bans: BanRecord[] = [];
    const offences: OffenceRecord[] = [];
    await this.loadStatePaged(nowMs, (p) => {
      for (let i = 0; i < p.bans.length; i++) bans.push(banRecordAt(p.bans, i));
      for (let i = 0; i < p.offences.length; i++) offences.push(offenceRecordAt(p.offences, i));
    });
    return { bans, offences };
  }

  loadStatePaged(
    nowMs: number,
    onPage: (p: StatePage) => void | Promise<void>,
  ): Promise<{ bans: number; offences: number }> {
    return readState(this.link, this.log, nowMs, onPage);
  }

  readOtherNodesBans(
    node: string,
    nowMs: number,
    onPage: (bans: BanRecord[]) => void | Promise<void>,
  ): Promise<number> {
    return readOtherNodesBans(this.link, node, nowMs, onPage);
  }

  // --- policy ------------------------------------------------------------------------------

  onPolicy(listener: (p: PolicySnapshot) => void): () => void {
    return this.policy.onPolicy(listener);
  }

  get cachedPolicy(): PolicySnapshot | null {
    return this.policy.cached;
  }

  async reloadNow(): Promise<void> {
    if (!this.link.isConnected) {
      if (!(await this.link.open())) throw new StoreUnavailableError('reloading', this.link.error);
      return;
    }
    await this.policy.reload();
  }

  // --- patterns and ban_config (REST API) ---------------------------------------------------

  listPatterns(): Promise<PatternRow[]> {
    return this.admin.listPatterns();
  }

  createPattern(p: PatternInput): Promise<PatternRow> {
    return this.admin.createPattern(p);
  }

  updatePattern(id: number, p: Partial<PatternInput>): Promise<PatternRow | null> {
    return this.admin.updatePattern(id, p);
  }

  deletePattern(id: number): Promise<boolean> {
    return this.admin.deletePattern(id);
  }

  getBanConfig(name?: string): Promise<BanConfigRow | null> {
    return this.admin.getBanConfig(name);
  }

  putBanConfig(row: BanConfigRow): Promise<BanConfigRow> {
    return this.admin.putBanConfig(row);
  }

  // --- jails (REST API) ----------------------------------------------------------------------

  listJails(): Promise<(StoredJail | JailRowError)[]> {
    return this.jails.listJails();
  }

  createJail(j: JailInput): Promise<StoredJail> {
    return this.jails.createJail(j);
  }

  updateJail(name: string, fields: Record<string, unknown>): Promise<StoredJail | null> {
    return this.jails.updateJail(name, fields);
  }

  deleteJail(name: string): Promise<boolean> {
    return this.jails.deleteJail(name);
  }

  // --- status ------------------------------------------------------------------------------

  databaseStatus(): DatabaseStatus {
    const lastLoad = this.policy.lastLoadAt;
    const s: DatabaseStatus = {
      enabled: true,
      connected: this.link.isConnected,
      driver: this.cfg.driver,
      failure_count: this.link.failures,
      last_successful_load: lastLoad === null ? null : new Date(lastLoad).toISOString(),
      has_cached_config: this.policy.cached !== null,
      pending_writes: this.writer.pending,
      journal_dropped: this.writer.journal.dropped,
    };
    const err = this.link.error;
    if (err) s.last_error = err;
    return s;
  }

  configSource(): ConfigSourceStatus {
    const connected = this.link.isConnected;
    const src = (fromDb: boolean): ConfigSourceName =>
      !fromDb ? 'file' : connected ? 'database' : 'database_cached';
    const rejected = this.policy.rejectedPatterns;
    return {
      patterns_source: src(this.policy.patternsFromDb),
      ban_config_source: src(this.policy.banConfigFromDb),
      database_enabled: true,
      database_connected: connected,
      ...(rejected.length > 0 ? { patterns_rejected: rejected } : {}),
      ...(this.policy.rejectedJails.length > 0 ? { jails_rejected: this.policy.rejectedJails } : {}),
    };
  }
}
