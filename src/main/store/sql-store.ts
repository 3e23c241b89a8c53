import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { type Kysely, sql, type Transaction } from 'kysely';
import { Gauge } from 'prom-client';
import { EdgebanError } from '../../shared/errors.js';
import { normalizeSpec, type PatternSpec } from '../../shared/patterns/compile.js';
import { PatternSet } from '../../shared/patterns/set.js';
import type { DatabaseConfig } from '../config/types.js';
import {
  BanRecordRows,
  type BanRows,
  banRecordAt,
  OffenceRecordRows,
  type OffenceRows,
  offenceRecordAt,
} from '../engine/restore-rows.js';
import type { BanEvent, BanPolicy, BanRecord, OffenceRecord } from '../engine/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { type Connection, type DialectName, dialectOf, openDatabase } from './connect.js';
import { DuplicatePatternError, LastPatternError, StoreUnavailableError } from './errors.js';
import { batchSize, type WriteBatch, WriteJournal } from './journal.js';
import { migrate } from './migrations.js';
import { ColumnBanRows, ColumnOffenceRows } from './restore-columns.js';
import {
  banConfigOfPolicy,
  banConfigRowFrom,
  banRecordFrom,
  banRowOf,
  listRecordFrom,
  offenceFrom,
  patternRowFrom,
  rowOfSpec,
  specOf,
  validateBanConfig,
} from './rows.js';
import type { Database, ListName } from './schema.js';
import { JournalSpill } from './spill.js';
import type {
  BanConfigRow,
  ConfigSourceName,
  ConfigSourceStatus,
  DatabaseStatus,
  PatternRow,
  PatternRowError,
  PolicySnapshot,
  Store,
} from './types.js';

export interface SqlStoreOptions {
  config: DatabaseConfig;
  log: Logger;
  metrics?: Metrics;
  /** An empty database is seeded with these: the file's patterns (or the built-ins) and ban policy. */
  seed: { patterns: readonly PatternSpec[]; policy: BanPolicy };
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
}

type PatternInput = Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>;

/** Rows per multi-row statement (well under every dialect's bound-parameter limit). */
const CHUNK = 500;
/** Rows per page when loading bans at start. */
const PAGE = 25_000;
const NO_BANS: BanRows = new BanRecordRows([]);
const NO_OFFENCES: OffenceRows = new OffenceRecordRows([]);
/** A batch this big is written at once instead of waiting for the flush tick. */
const EAGER_BATCH = 20_000;
const MAX_TEXT = 255;

function clip(s: string | null, n = MAX_TEXT): string | null {
  return s === null || s.length <= n ? s : s.slice(0, n);
}

function errText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errText(err.errors[0]);
  const e = err as { message?: string; code?: string };
  const msg = e?.message || String(err);
  return e?.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(() => {
      timers.delete(t);
      r();
    }, ms);
    t.unref();
    timers.add(t);
  });
}

/**
 * The SQL store (issue #6) over Kysely: SQLite (default, in its own thread), PostgreSQL or
 * MySQL/MariaDB. It migrates the schema at start, writes engine events in batches
 * (`database.flush_interval`), loads bans and offence memory for the restore, re-reads patterns,
 * ban_config and lists every `database.refresh_interval` (and at once after an API change) and
 * hands a validated PolicySnapshot to its listeners. When the database goes away it keeps the
 * last good snapshot, journals changes (bounded), retries with backoff and catches up on return.
 */
export class SqlStore implements Store {
  readonly dialect: DialectName;
  private readonly cfg: DatabaseConfig;
  private readonly log: Logger;
  private readonly metrics?: Metrics;
  private readonly seedWith: SqlStoreOptions['seed'];
  private readonly cwd?: string;
  private readonly timeoutMs: number;
  private readonly cacheFile: string | null;
  private cacheChain: Promise<void> = Promise.resolve();
  readonly journal: WriteJournal;
  private readonly spill: JournalSpill | null;
  /** Changes a previous run journaled to disk and never wrote (for the engine, once). */
  private recovered: BanEvent[] = [];
  /** `seq` of the last change the journal file holds: a write covering it makes the file moot. */
  private spilledUpTo = 0;

  private conn: Connection | null = null;
  private connected = false;
  private stopped = false;
  private failureCount = 0;
  private lastError: string | undefined;
  private lastLoad: number | null = null;
  private snapshot: PolicySnapshot | null = null;
  private patternsFromDb = false;
  /** Database pattern rows left out of the last load because they do not compile. */
  private patternErrors: PatternRowError[] = [];
  private banConfigFromDb = false;
  /** Raw `ip_address` texts seen per `kind|canonical` (rows written by hand need not be canonical). */
  private listVariants = new Map<string, string[]>();
  private readonly rejected = new Set<string>();

  private seq = 0;
  private written = 0;
  /** Changes in the write under way (taken from the journal, not yet committed). */
  private inflight = 0;
  private writeChain: Promise<unknown> = Promise.resolve();
  private eagerQueued = false;
  private reloadChain: Promise<void> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private flushTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly policyListeners = new Set<(p: PolicySnapshot) => void>();
  private readonly readyListeners = new Set<() => void>();

  constructor(opts: SqlStoreOptions) {
    this.cfg = opts.config;
    this.dialect = dialectOf(opts.config.driver);
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.seedWith = opts.seed;
    this.cwd = opts.cwd;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.cacheFile = opts.cacheFile ?? null;
    this.journal = new WriteJournal(opts.journalMax ?? 1_000_000);
    this.spill = opts.journalFile
      ? new JournalSpill(opts.journalFile, opts.log, () => this.journal.events())
      : null;
  }

  /** Changes the last run journaled to disk during an outage and never wrote; handed out once. */
  takeRecovered(): BanEvent[] {
    const r = this.recovered;
    this.recovered = [];
    return r;
  }

  // --- lifecycle ---------------------------------------------------------------------------

  async start(): Promise<void> {
    this.stopped = false;
    if (this.spill) {
      // a previous run stopped (or died) during an outage: its changes go out first
      this.recovered = await this.spill.recover();
      for (const e of this.recovered) {
        this.seq++;
        this.journal.add(e);
      }
      this.spilledUpTo = this.seq;
      if (this.recovered.length > 0)
        this.log.warn(
          { changes: this.recovered.length, file: this.spill.file },
          'changes journaled during an outage by the last run: restored, written once the database answers',
        );
    }
    this.flushTimer = setInterval(() => this.tick(), this.cfg.flush_interval);
    this.flushTimer.unref();
    this.refreshTimer = setInterval(() => {
      if (this.connected) this.reloadWithRetries().catch(() => {});
    }, this.cfg.refresh_interval);
    this.refreshTimer.unref();
    if (!(await this.connect())) {
      if (await this.loadCache())
        this.log.warn(
          { driver: this.cfg.driver, err: this.lastError, cache: this.cacheFile },
          'database unavailable at start: serving the last good copy of its policy until it answers; retrying',
        );
      else
        this.log.warn(
          { driver: this.cfg.driver, err: this.lastError },
          'database unavailable at start: serving from the configuration file until it answers; retrying',
        );
      this.scheduleReconnect();
    }
  }

  private fingerprint(): string {
    return createHash('sha256').update(`${this.cfg.driver}\n${this.cfg.dsn}`).digest('hex').slice(0, 16);
  }

  /** Writes the snapshot to the cache file (atomically: temp file, then rename), one write at a time. */
  private saveCache(p: PolicySnapshot): void {
    const file = this.cacheFile;
    if (!file) return;
    const body = JSON.stringify({
      version: 1,
      database: this.fingerprint(),
      saved_at: new Date().toISOString(),
      policy: p,
    });
    this.cacheChain = this.cacheChain.then(async () => {
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      } catch (err) {
        this.rejectOnce(
          'cache:write',
          { err: errText(err), file },
          'cannot keep a copy of the database policy on disk',
        );
      }
    });
  }

  /** The last good copy, when it belongs to this database and is still valid; applied like a load. */
  private async loadCache(): Promise<boolean> {
    const file = this.cacheFile;
    if (!file) return false;
    let p: PolicySnapshot;
    try {
      const j = JSON.parse(await readFile(file, 'utf8')) as {
        version: number;
        database: string;
        policy: PolicySnapshot;
      };
      if (j.version !== 1 || j.database !== this.fingerprint()) return false;
      p = j.policy;
      const enabled = p.patterns.filter((x) => x.enabled);
      if (enabled.length > 0) new PatternSet(0, enabled.map(specOf));
      else p.patterns = [];
      if (p.banConfig) validateBanConfig(p.banConfig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: errText(err), file }, 'the cached copy of the database policy is unusable');
      return false;
    }
    this.snapshot = p;
    this.patternsFromDb = p.patterns.length > 0;
    this.banConfigFromDb = p.banConfig !== null;
    this.metrics?.configReloads.inc({ source: 'database_cached', status: 'success' });
    this.emitPolicy(p);
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.flushTimer = this.refreshTimer = this.reconnectTimer = null;
    if (this.connected) await this.write().catch(() => false);
    await this.reloadChain.catch(() => {});
    await this.cacheChain;
    if (this.journal.size > 0 && this.spill?.active) {
      await this.spill.close();
      this.log.warn(
        { pending: this.journal.size, file: this.spill.file },
        'stopping with changes the database never received (it is unavailable): kept on disk for the next start',
      );
    } else if (this.journal.size > 0)
      this.log.error(
        { pending: this.journal.size },
        'stopping with changes the database never received (it is unavailable): they are lost',
      );
    await this.dropConnection();
    this.connected = false;
  }

  /** Called once per transition to "connected and migrated" (the restore waits for it). */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** One attempt: open, migrate, seed an empty database, load the policy. */
  private async connect(): Promise<boolean> {
    try {
      if (!this.conn) {
        this.conn = openDatabase(this.cfg.driver, this.cfg.dsn, {
          cwd: this.cwd,
          timeoutMs: this.timeoutMs,
          onIdleError: (err) => this.log.debug({ err: errText(err) }, 'database: idle connection closed'),
        });
      }
      const db = this.conn.db;
      const applied = await migrate(db as unknown as Kysely<unknown>, this.dialect);
      if (applied.length > 0)
        this.log.info({ migrations: applied, driver: this.cfg.driver }, 'database schema migrated');
      this.op('migrate', 'success');
      await this.seed(db);
      await this.enqueueReload();
      this.markUp();
      return true;
    } catch (err) {
      this.op('connect', 'failure');
      this.markDown(err);
      await this.dropConnection();
      return false;
    }
  }

  private markUp(): void {
    const wasDown = !this.connected;
    const failures = this.failureCount;
    this.connected = true;
    this.failureCount = 0;
    this.lastError = undefined;
    this.metrics?.databaseConnectionsActive.set(this.conn?.active() ?? 0);
    if (!wasDown) return;
    this.op('connect', 'success');
    if (failures > 0)
      this.log.info(
        { failures, pending: this.journal.size, driver: this.cfg.driver },
        'database reachable again: writing the journaled changes',
      );
    for (const l of this.readyListeners) {
      try {
        l();
      } catch (err) {
        this.log.error({ err }, 'database ready listener failed');
      }
    }
    if (this.journal.size > 0) this.write().catch(() => {});
  }

  private markDown(err: unknown): void {
    const wasUp = this.connected;
    this.connected = false;
    this.failureCount++;
    this.lastError = errText(err);
    this.metrics?.databaseConnectionsActive.set(0);
    // from now on the journal is on disk too (a kill during the outage must not lose it)
    if (this.spill && !this.spill.active) this.spillAll();
    if (wasUp)
      this.log.error(
        { err: this.lastError, driver: this.cfg.driver, pending: this.journal.size },
        'database unavailable: serving from the cached configuration and ban state; changes are journaled until it returns',
      );
    else this.log.warn({ err: this.lastError, failures: this.failureCount }, 'database still unavailable');
  }

  /** Next reconnect attempt: retry_delay doubling per failure, capped (≤ 60 s, ≤ refresh_interval). */
  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer || this.connected) return;
    const base = Math.max(50, this.cfg.retry_delay);
    const cap = Math.min(60_000, Math.max(base, this.cfg.refresh_interval));
    const delay = Math.min(cap, base * 2 ** Math.min(20, Math.max(0, this.failureCount - 1)));
    this.reconnectTimer = setTimeout(async () => {
      this.reconnectTimer = null;
      if (this.stopped) return;
      if (!(await this.connect())) this.scheduleReconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Closes the connection (pool); a pool whose server is gone may take long to end: not waited for more than 2 s. */
  private async dropConnection(): Promise<void> {
    const c = this.conn;
    this.conn = null;
    if (!c) return;
    this.metrics?.databaseConnectionsActive.set(0);
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

  /**
   * The database failed an operation: down, journal, reconnect. `on` is the connection the
   * operation used; a failure of an older one (replaced by a reconnect since) is ignored.
   */
  private fail(err: unknown, on?: Connection | null): void {
    if (on !== undefined && on !== this.conn) return;
    if (!this.connected && !this.conn) return;
    this.markDown(err);
    this.dropConnection().catch(() => {});
    this.scheduleReconnect();
  }

  private op(operation: string, status: 'success' | 'failure', n = 1): void {
    this.metrics?.databaseOperations.inc({ operation, status }, n);
  }

  private async seed(db: Kysely<Database>): Promise<void> {
    const count = async (t: 'patterns' | 'ban_config') =>
      Number(
        (
          await db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirst()
        )?.n ?? 0,
      );
    if ((await count('patterns')) === 0) {
      const rows: PatternInput[] = [];
      for (const s of this.seedWith.patterns) {
        try {
          rows.push(rowOfSpec(normalizeSpec(s)));
        } catch (err) {
          this.log.warn({ pattern: s.name, err: errText(err) }, 'pattern not seeded into the database');
        }
      }
      for (const r of rows) {
        await this.insertIgnore(db, 'patterns', {
          name: r.name,
          regex: r.regex,
          ip_group: r.ip_group,
          severity: r.severity,
          description: r.description,
          enabled: r.enabled,
          raw: r.raw === true,
        });
      }
      this.log.info(
        { patterns: rows.map((r) => r.name) },
        'database had no patterns: seeded from the configuration',
      );
    }
    if ((await count('ban_config')) === 0) {
      const row = banConfigOfPolicy('default', this.seedWith.policy);
      await this.insertIgnore(db, 'ban_config', { ...row });
      this.log.info(
        { ban_config: row },
        "database had no ban_config: seeded 'default' from the configuration",
      );
    }
  }

  private async insertIgnore<T extends 'patterns' | 'ban_config'>(
    db: Kysely<Database>,
    table: T,
    values: Parameters<ReturnType<Kysely<Database>['insertInto']>['values']>[0],
  ): Promise<void> {
    const q = db.insertInto(table).values(values as never);
    if (this.dialect === 'mysql') await q.ignore().execute();
    else await q.onConflict((oc) => oc.column('name').doNothing()).execute();
  }

  // --- writes ------------------------------------------------------------------------------

  /** The whole journal to the file (the outage starts, or a failed batch came back). */
  private spillAll(): void {
    this.spill?.begin();
    this.spilledUpTo = this.seq;
  }

  enqueue(e: BanEvent): void {
    this.seq++;
    this.journal.add(e);
    if (!this.connected && this.spill?.active) {
      this.spill.append(e);
      this.spilledUpTo = this.seq;
    }
    if (this.journal.size >= EAGER_BATCH && this.connected && !this.eagerQueued) {
      this.eagerQueued = true;
      setImmediate(() => {
        this.eagerQueued = false;
        this.write().catch(() => {});
      });
    }
  }

  async flush(): Promise<{ durable: boolean }> {
    const target = this.seq;
    if (this.written >= target) return { durable: true };
    if (!this.connected) return { durable: false };
    await this.write();
    return { durable: this.written >= target };
  }

  private tick(): void {
    this.metrics?.databaseConnectionsActive.set(this.conn?.active() ?? 0);
    if (this.connected && this.journal.size > 0) this.write().catch(() => {});
  }

  /** Writes everything pending now; serialised, so a flush waits for the write before it. */
  private write(): Promise<boolean> {
    const run = () => this.writeOnce();
    const p = this.writeChain.then(run, run);
    this.writeChain = p.catch(() => {});
    return p;
  }

  private async writeOnce(): Promise<boolean> {
    const conn = this.conn;
    if (!conn || !this.connected) return false;
    const upTo = this.seq;
    if (this.journal.size === 0) {
      this.written = upTo;
      return true;
    }
    const batch = this.journal.take();
    const n = batchSize(batch);
    this.inflight = n;
    try {
      await this.writeBatch(conn.db, batch, Date.now());
      this.written = upTo;
      this.op('write', 'success', n);
      // the database has every change the disk copy held (later ones are in memory, as usual)
      if (this.spill?.active && upTo >= this.spilledUpTo) this.spill.clear();
      return true;
    } catch (err) {
      this.journal.putBack(batch);
      // a batch taken before the outage was noticed goes to the disk copy too
      if (this.spill?.active) this.spillAll();
      this.inflight = 0;
      if (await this.alive(conn)) {
        // the database answers: some row is bad. Write one at a time and drop what it refuses.
        this.log.error(
          { err: errText(err), changes: n },
          'database refused a batch of changes: writing them one by one',
        );
        const again = this.journal.take();
        let dropped = 0;
        for (const single of splitBatch(again)) {
          try {
            await this.writeBatch(conn.db, single, Date.now());
          } catch (e) {
            dropped++;
            this.log.error(
              { err: errText(e), change: describe(single) },
              'database refused a change: dropped',
            );
          }
        }
        this.op('write', 'failure', dropped);
        this.written = upTo;
        return dropped === 0;
      }
      this.op('write', 'failure', n);
      this.fail(err, conn);
      return false;
    } finally {
      this.inflight = 0;
    }
  }

  private async alive(conn: Connection): Promise<boolean> {
    try {
      await sql`select 1`.execute(conn.db);
      return true;
    } catch {
      return false;
    }
  }

  private async writeBatch(db: Kysely<Database>, b: WriteBatch, now: number): Promise<void> {
    const banPuts: ReturnType<typeof banRowOf>[] = [];
    const banDels: string[] = [];
    for (const w of b.bans.values()) {
      if (w.op === 'put' && (w.record.expiresAt === null || w.record.expiresAt > now)) {
        const r = banRowOf(w.record);
        r.reason = clip(r.reason, 4096) ?? '';
        r.pattern = clip(r.pattern);
        r.created_by = clip(r.created_by) ?? '';
        r.node = clip(r.node) ?? '';
        banPuts.push(r);
      } else banDels.push(w.op === 'put' ? w.record.target : w.target);
    }
    const offPuts: { ip_address: string; ban_count: number; last_offence_ms: number }[] = [];
    const offDels: string[] = [];
    for (const w of b.offences.values()) {
      if (w.op === 'put')
        offPuts.push({
          ip_address: w.record.target,
          ban_count: w.record.banCount,
          last_offence_ms: w.record.lastOffence,
        });
      else offDels.push(w.target);
    }
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < banPuts.length; i += CHUNK) await this.upsertBans(trx, banPuts.slice(i, i + CHUNK));
      for (let i = 0; i < banDels.length; i += CHUNK)
        await trx
          .deleteFrom('bans')
          .where('ip_address', 'in', banDels.slice(i, i + CHUNK))
          .execute();
      for (let i = 0; i < offPuts.length; i += CHUNK) {
        const q = trx.insertInto('offences').values(offPuts.slice(i, i + CHUNK));
        if (this.dialect === 'mysql')
          await q
            .onDuplicateKeyUpdate({
              ban_count: sql`values(ban_count)`,
              last_offence_ms: sql`values(last_offence_ms)`,
            })
            .execute();
        else
          await q
            .onConflict((oc) =>
              oc.column('ip_address').doUpdateSet((eb) => ({
                ban_count: eb.ref('excluded.ban_count'),
                last_offence_ms: eb.ref('excluded.last_offence_ms'),
              })),
            )
            .execute();
      }
      for (let i = 0; i < offDels.length; i += CHUNK)
        await trx
          .deleteFrom('offences')
          .where('ip_address', 'in', offDels.slice(i, i + CHUNK))
          .execute();
      for (const w of b.lists.values()) {
        if (w.op === 'put') await this.upsertList(trx, w.kind, w.record);
        else await this.disableList(trx, w.kind, w.target);
      }
    });
  }

  private async upsertBans(trx: Transaction<Database>, rows: ReturnType<typeof banRowOf>[]): Promise<void> {
    const q = trx.insertInto('bans').values(rows);
    if (this.dialect === 'mysql') {
      await q
        .onDuplicateKeyUpdate({
          kind: sql`values(kind)`,
          reason: sql`values(reason)`,
          pattern: sql`values(pattern)`,
          created_at_ms: sql`values(created_at_ms)`,
          expires_at_ms: sql`values(expires_at_ms)`,
          created_by: sql`values(created_by)`,
          node: sql`values(node)`,
          ban_count: sql`values(ban_count)`,
        })
        .execute();
      return;
    }
    await q
      .onConflict((oc) =>
        oc.column('ip_address').doUpdateSet((eb) => ({
          kind: eb.ref('excluded.kind'),
          reason: eb.ref('excluded.reason'),
          pattern: eb.ref('excluded.pattern'),
          created_at_ms: eb.ref('excluded.created_at_ms'),
          expires_at_ms: eb.ref('excluded.expires_at_ms'),
          created_by: eb.ref('excluded.created_by'),
          node: eb.ref('excluded.node'),
          ban_count: eb.ref('excluded.ban_count'),
        })),
      )
      .execute();
  }

  /**
   * Adds (or re-enables) a list entry. The reference soft-deleted entries and then could never
   * add them again (UNIQUE); here a re-add turns the same row back on.
   */
  private async upsertList(trx: Transaction<Database>, kind: ListName, r: BanRecord): Promise<void> {
    const created = new Date(r.createdAt);
    const values = {
      ip_address: r.target,
      reason: clip(r.reason, 4096),
      created_by: clip(r.createdBy) ?? 'api',
      created_at: created,
      enabled: true,
    };
    // a hand-written variant of the same entry (`10.0.0.1/32`, upper-case IPv6) is switched off
    const others = (this.listVariants.get(`${kind}|${r.target}`) ?? []).filter((v) => v !== r.target);
    if (others.length > 0)
      await trx.updateTable(kind).set({ enabled: false }).where('ip_address', 'in', others).execute();
    const q = trx.insertInto(kind).values(values);
    if (this.dialect === 'mysql')
      await q
        .onDuplicateKeyUpdate({
          reason: values.reason,
          created_by: values.created_by,
          created_at: created,
          enabled: true,
        })
        .execute();
    else
      await q
        .onConflict((oc) =>
          oc.column('ip_address').doUpdateSet({
            reason: values.reason,
            created_by: values.created_by,
            created_at: created,
            enabled: true,
          }),
        )
        .execute();
  }

  private async disableList(trx: Transaction<Database>, kind: ListName, target: string): Promise<void> {
    const all = [target, ...(this.listVariants.get(`${kind}|${target}`) ?? [])];
    await trx
      .updateTable(kind)
      .set({ enabled: false })
      .where('ip_address', 'in', [...new Set(all)])
      .execute();
  }

  // --- start-up state ------------------------------------------------------------------------

  async loadState(nowMs: number): Promise<{ bans: BanRecord[]; offences: OffenceRecord[] }> {
    const bans: BanRecord[] = [];
    const offences: OffenceRecord[] = [];
    await this.loadStatePaged(nowMs, (p) => {
      for (let i = 0; i < p.bans.length; i++) bans.push(banRecordAt(p.bans, i));
      for (let i = 0; i < p.offences.length; i++) offences.push(offenceRecordAt(p.offences, i));
    });
    return { bans, offences };
  }

  /**
   * Active bans and offence memory page by page (keyset order, `PAGE` rows): the next page is
   * already being read while `onPage` works on this one, so the database read and the engine's
   * restore overlap. Resolves with the counts.
   */
  async loadStatePaged(
    nowMs: number,
    onPage: (p: { bans: BanRows; offences: OffenceRows }) => void | Promise<void>,
  ): Promise<{ bans: number; offences: number }> {
    const conn = this.conn;
    if (!conn || !this.connected) throw new StoreUnavailableError('loading persisted bans');
    const db = conn.db;
    const banQuery = (after: string) =>
      db
        .selectFrom('bans')
        .select([
          'ip_address',
          'reason',
          'pattern',
          'created_at_ms',
          'expires_at_ms',
          'created_by',
          'node',
          'ban_count',
        ])
        .where('ip_address', '>', after)
        .where((eb) => eb.or([eb('expires_at_ms', '>', nowMs), eb('expires_at_ms', 'is', null)]))
        .orderBy('ip_address')
        .limit(PAGE);
    const offenceQuery = (after: string) =>
      db
        .selectFrom('offences')
        .select(['ip_address', 'ban_count', 'last_offence_ms'])
        .where('ip_address', '>', after)
        .orderBy('ip_address')
        .limit(PAGE);
    // PostgreSQL without statistics (a table filled since the last autovacuum) plans each page
    // as a full scan and sort instead of a walk of the primary key: seconds per page at 1M rows
    if (this.dialect === 'postgres')
      await sql`analyze bans, offences`.execute(db).catch((err) => {
        this.log.debug({ err: errText(err) }, 'ANALYZE before the restore failed (not the table owner?)');
      });
    // SQLite: the rows cross from its thread as columns, and the engine reads those in place
    const columns = conn.columns;
    const fetchBans = async (after: string): Promise<BanRows> => {
      if (!columns)
        return new BanRecordRows(
          (await banQuery(after).execute()).map((r) => banRecordFrom({ ...r, kind: 'temp' })),
        );
      return new ColumnBanRows(await columns(banQuery(after).compile()));
    };
    const fetchOffences = async (after: string): Promise<OffenceRows> => {
      if (!columns) return new OffenceRecordRows((await offenceQuery(after).execute()).map(offenceFrom));
      return new ColumnOffenceRows(await columns(offenceQuery(after).compile()));
    };
    // a prefetch that fails while a page is being handled is awaited (and thrown) on the next turn
    const quiet = <T>(p: Promise<T>) => {
      p.catch(() => {});
      return p;
    };
    let nextBans: Promise<BanRows> | null = quiet(fetchBans(''));
    let nextOffences: Promise<OffenceRows> | null = quiet(fetchOffences(''));
    let nb = 0;
    let no = 0;
    try {
      while (nextBans !== null || nextOffences !== null) {
        const b: BanRows = nextBans ? await nextBans : NO_BANS;
        const o: OffenceRows = nextOffences ? await nextOffences : NO_OFFENCES;
        nextBans = b.length === PAGE ? quiet(fetchBans(b.target(b.length - 1))) : null;
        nextOffences = o.length === PAGE ? quiet(fetchOffences(o.target(o.length - 1))) : null;
        nb += b.length;
        no += o.length;
        await onPage({ bans: b, offences: o });
      }
      this.op('load_state', 'success');
      return { bans: nb, offences: no };
    } catch (err) {
      this.op('load_state', 'failure');
      if (!(err instanceof EdgebanError)) this.fail(err, conn);
      throw new StoreUnavailableError('loading persisted bans', err);
    }
  }

  // --- policy ------------------------------------------------------------------------------

  onPolicy(listener: (p: PolicySnapshot) => void): () => void {
    this.policyListeners.add(listener);
    return () => this.policyListeners.delete(listener);
  }

  /** The last good snapshot (null before the first successful load). */
  get cachedPolicy(): PolicySnapshot | null {
    return this.snapshot;
  }

  async reloadNow(): Promise<void> {
    if (!this.connected) {
      if (!(await this.connect())) throw new StoreUnavailableError('reloading', this.lastError);
      return;
    }
    await this.enqueueReload();
  }

  /** Periodic reload: `max_retries` more attempts, `retry_delay` doubling between them. */
  private async reloadWithRetries(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.enqueueReload();
        return;
      } catch (err) {
        if (this.stopped || !this.connected) return;
        if (attempt >= this.cfg.max_retries) {
          this.fail(err);
          return;
        }
        this.failureCount++;
        this.lastError = errText(err);
        this.log.warn({ err: this.lastError, attempt: attempt + 1 }, 'database reload failed: retrying');
        await sleep(this.cfg.retry_delay * 2 ** attempt, this.timers);
      }
    }
  }

  /** Reloads run one after the other. */
  private enqueueReload(): Promise<void> {
    const run = () => this.load();
    const p = this.reloadChain.then(run, run);
    this.reloadChain = p.catch(() => {});
    return p;
  }

  /** Reads patterns, ban_config and lists, validates them and tells the listeners what changed. */
  private async load(): Promise<void> {
    const conn = this.conn;
    if (!conn) throw new StoreUnavailableError('reloading');
    // changes not yet written go first, so a reload never undoes them
    if (this.journal.size > 0 && this.connected) await this.write();
    const db = conn.db;
    let patternRows: PatternRow[];
    let banRows: BanConfigRow[];
    let lists: {
      kind: ListName;
      rows: { ip_address: string; reason: string | null; created_at: unknown; created_by: string | null }[];
    }[];
    try {
      patternRows = (await db.selectFrom('patterns').selectAll().orderBy('id').execute()).map(patternRowFrom);
      banRows = (
        await db
          .selectFrom('ban_config')
          .selectAll()
          .where('enabled', '=', true)
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .execute()
      ).map(banConfigRowFrom);
      lists = [];
      for (const kind of ['blacklist', 'whitelist'] as const) {
        const rows = await db
          .selectFrom(kind)
          .select(['ip_address', 'reason', 'created_at', 'created_by'])
          .where('enabled', '=', true)
          .orderBy('id')
          .execute();
        lists.push({ kind, rows });
      }
      // housekeeping: rows of expired bans and forgotten offences
      const now = Date.now();
      await db.deleteFrom('bans').where('expires_at_ms', '<=', now).execute();
      const ttl = this.snapshot?.banConfig
        ? this.snapshot.banConfig.max_memory_ttl_seconds * 1000
        : this.seedWith.policy.maxMemoryTtl;
      await db
        .deleteFrom('offences')
        .where('last_offence_ms', '<', now - ttl)
        .execute();
    } catch (err) {
      this.op('reload', 'failure');
      this.metrics?.configReloads.inc({ source: 'database', status: 'failure' });
      throw err;
    }
    this.op('reload', 'success');
    this.lastLoad = Date.now();
    this.apply(patternRows, banRows, lists);
  }

  private apply(
    patternRows: PatternRow[],
    banRows: BanConfigRow[],
    lists: {
      kind: ListName;
      rows: { ip_address: string; reason: string | null; created_at: unknown; created_by: string | null }[];
    }[],
  ): void {
    const prev = this.snapshot;
    let ok = true;
    // patterns: a row that does not compile is skipped (and reported), the others apply
    let patterns = prev?.patterns ?? [];
    const screened = this.screenPatterns(patternRows);
    const enabled = screened.filter((p) => p.enabled);
    if (enabled.length === 0) {
      ok = false;
      this.rejectOnce(
        'patterns:none',
        { rows: patternRows.length, invalid: this.patternErrors.length },
        'database patterns rejected: no enabled pattern that compiles (nothing could be banned); keeping the previous set',
      );
    } else if (!samePatterns(patterns, screened)) {
      patterns = screened;
      this.patternsFromDb = true;
    }
    // ban_config: the row named 'default' when enabled, else the newest enabled one
    let banConfig = prev?.banConfig ?? null;
    const chosen = banRows.find((r) => r.name === 'default') ?? banRows[0] ?? null;
    if (chosen && JSON.stringify(chosen) !== JSON.stringify(banConfig)) {
      try {
        validateBanConfig(chosen);
        banConfig = chosen;
        this.banConfigFromDb = true;
      } catch (err) {
        ok = false;
        this.rejectOnce(
          `ban_config:${errText(err)}`,
          { err: errText(err) },
          'database ban_config rejected; keeping the previous policy',
        );
      }
    }
    // lists: canonical entries; a change not yet written wins over what the database says
    const variants = new Map<string, string[]>();
    const out: Record<ListName, BanRecord[]> = { blacklist: [], whitelist: [] };
    for (const { kind, rows } of lists) {
      const seen = new Set<string>();
      for (const row of rows) {
        const rec = listRecordFrom(kind, row);
        if (!rec) {
          this.rejectOnce(
            `list:${kind}:${row.ip_address}`,
            { list: kind, ip_address: row.ip_address },
            'list entry ignored: not an address or CIDR',
          );
          continue;
        }
        const key = `${kind}|${rec.target}`;
        const v = variants.get(key);
        if (v) v.push(row.ip_address);
        else variants.set(key, [row.ip_address]);
        if (seen.has(rec.target)) continue;
        seen.add(rec.target);
        if (this.journal.pendingList(kind, rec.target)?.op === 'del') continue;
        out[kind].push(rec);
      }
    }
    this.listVariants = variants;
    const blacklist = prev && sameList(prev.blacklist, out.blacklist) ? prev.blacklist : out.blacklist;
    const whitelist = prev && sameList(prev.whitelist, out.whitelist) ? prev.whitelist : out.whitelist;
    const next: PolicySnapshot = { patterns, banConfig, blacklist, whitelist };
    this.snapshot = next;
    this.metrics?.configReloads.inc({ source: 'database', status: ok ? 'success' : 'failure' });
    const changed =
      !prev ||
      prev.patterns !== next.patterns ||
      prev.banConfig !== next.banConfig ||
      prev.blacklist !== next.blacklist ||
      prev.whitelist !== next.whitelist;
    if (changed) {
      this.emitPolicy(next);
      this.saveCache(next);
    }
  }

  /**
   * The rows that compile; each one that does not is left out, listed in `patternErrors`
   * (/config/source, the API) and counted (`edgeban_patterns_rejected`), and logged once per row
   * and error, so one bad row never holds back the others.
   */
  private screenPatterns(rows: PatternRow[]): PatternRow[] {
    const good: PatternRow[] = [];
    const errors: PatternRowError[] = [];
    for (const row of rows) {
      try {
        if (row.enabled) new PatternSet(0, [specOf(row)]);
        good.push(row);
      } catch (err) {
        const error = errText(err);
        errors.push({ id: row.id, name: row.name, error });
        this.rejectOnce(
          `pattern-row:${row.id}:${error}`,
          { pattern: row.name, id: row.id, err: error },
          'database pattern skipped: it does not compile; the other patterns apply',
        );
      }
    }
    this.patternErrors = errors;
    const reg = this.metrics?.registry;
    if (reg) {
      const g =
        (reg.getSingleMetric('edgeban_patterns_rejected') as Gauge | undefined) ??
        new Gauge({
          name: 'edgeban_patterns_rejected',
          help: 'Pattern rows of the database skipped because they do not compile',
          registers: [reg],
        });
      g.set(errors.length);
    }
    // a row and its twin in the previous set keep their identity, so an unchanged set is no change
    return good.length === rows.length ? rows : good;
  }

  private rejectOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.rejected.has(key)) return;
    this.rejected.add(key);
    this.log.error(fields, msg);
  }

  private emitPolicy(p: PolicySnapshot): void {
    for (const l of this.policyListeners) {
      try {
        l(p);
      } catch (err) {
        this.log.error({ err }, 'policy listener failed');
      }
    }
  }

  // --- patterns and ban_config (REST API) ---------------------------------------------------

  private db(what: string): Kysely<Database> {
    if (!this.conn || !this.connected) throw new StoreUnavailableError(what, this.lastError);
    return this.conn.db;
  }

  private async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.op(operation, 'success');
      return out;
    } catch (err) {
      this.op(operation, 'failure');
      if (err instanceof EdgebanError) throw err;
      const conn = this.conn;
      if (conn && !(await this.alive(conn))) {
        this.fail(err, conn);
        throw new StoreUnavailableError(operation, err);
      }
      throw err;
    }
  }

  private async afterChange(): Promise<void> {
    try {
      await this.enqueueReload();
    } catch (err) {
      this.log.warn(
        { err: errText(err) },
        'reload after a change failed; the next periodic reload applies it',
      );
    }
  }

  async listPatterns(): Promise<PatternRow[]> {
    const db = this.db('listing patterns');
    return this.guard('pattern_list', async () =>
      (await db.selectFrom('patterns').selectAll().orderBy('id').execute()).map(patternRowFrom),
    );
  }

  private async patternById(db: Kysely<Database>, id: number): Promise<PatternRow | null> {
    const r = await db.selectFrom('patterns').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? patternRowFrom(r) : null;
  }

  /** Pattern names are unique: DuplicatePatternError when `name` is taken. */
  private async refuseTakenName(db: Kysely<Database>, name: string): Promise<void> {
    const dup = await db.selectFrom('patterns').select('id').where('name', '=', name).executeTakeFirst();
    if (dup) throw new DuplicatePatternError(name);
  }

  async createPattern(p: PatternInput): Promise<PatternRow> {
    const db = this.db('creating a pattern');
    const spec = normalizeSpec({ ...p, raw: p.raw === true });
    new PatternSet(0, [{ ...spec, enabled: true }]); // throws PatternError naming it
    const row = await this.guard('pattern_create', async () => {
      await this.refuseTakenName(db, spec.name);
      await db
        .insertInto('patterns')
        .values({
          name: spec.name,
          regex: spec.regex,
          ip_group: Number(rowOfSpec(spec).ip_group),
          severity: spec.severity,
          description: spec.description,
          enabled: spec.enabled,
          raw: spec.raw,
        })
        .execute();
      const r = await db
        .selectFrom('patterns')
        .selectAll()
        .where('name', '=', spec.name)
        .executeTakeFirstOrThrow();
      return patternRowFrom(r);
    });
    this.log.info({ pattern: row.name, id: row.id }, 'pattern created');
    await this.afterChange();
    return row;
  }

  async updatePattern(id: number, p: Partial<PatternInput>): Promise<PatternRow | null> {
    const db = this.db('updating a pattern');
    const row = await this.guard('pattern_update', async () => {
      const cur = await this.patternById(db, id);
      if (!cur) return null;
      const merged: PatternRow = { ...cur, ...stripUndefined(p), id: cur.id };
      const spec = normalizeSpec(specOf(merged));
      new PatternSet(0, [{ ...spec, enabled: true }]);
      if (cur.enabled && !merged.enabled) await this.ensureAnotherEnabled(db, cur);
      if (merged.name !== cur.name) await this.refuseTakenName(db, merged.name);
      await db
        .updateTable('patterns')
        .set({
          name: merged.name,
          regex: merged.regex,
          ip_group: Number(rowOfSpec(spec).ip_group),
          severity: merged.severity,
          description: merged.description,
          enabled: merged.enabled,
          raw: merged.raw === true,
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .execute();
      return this.patternById(db, id);
    });
    if (row) {
      this.log.info({ pattern: row.name, id }, 'pattern updated');
      await this.afterChange();
    }
    return row;
  }

  async deletePattern(id: number): Promise<boolean> {
    const db = this.db('deleting a pattern');
    const done = await this.guard('pattern_delete', async () => {
      const cur = await this.patternById(db, id);
      if (!cur) return false;
      if (cur.enabled) await this.ensureAnotherEnabled(db, cur);
      await db.deleteFrom('patterns').where('id', '=', id).execute();
      return true;
    });
    if (done) {
      this.log.info({ id }, 'pattern deleted');
      await this.afterChange();
    }
    return done;
  }

  private async ensureAnotherEnabled(db: Kysely<Database>, cur: PatternRow): Promise<void> {
    const r = await db
      .selectFrom('patterns')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('enabled', '=', true)
      .where('id', '!=', cur.id)
      .executeTakeFirst();
    if (Number(r?.n ?? 0) === 0) throw new LastPatternError(cur.name);
  }

  async getBanConfig(name?: string): Promise<BanConfigRow | null> {
    const db = this.db('reading ban_config');
    return this.guard('ban_config_get', async () => {
      if (name !== undefined) {
        const r = await db.selectFrom('ban_config').selectAll().where('name', '=', name).executeTakeFirst();
        return r ? banConfigRowFrom(r) : null;
      }
      const rows = (
        await db
          .selectFrom('ban_config')
          .selectAll()
          .where('enabled', '=', true)
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .execute()
      ).map(banConfigRowFrom);
      return rows.find((r) => r.name === 'default') ?? rows[0] ?? null;
    });
  }

  async putBanConfig(row: BanConfigRow): Promise<BanConfigRow> {
    validateBanConfig(row);
    const db = this.db('writing ban_config');
    const out = await this.guard('ban_config_put', async () => {
      const values = {
        initial_ban_time_seconds: row.initial_ban_time_seconds,
        max_ban_time_seconds: row.max_ban_time_seconds,
        escalation_factor: row.escalation_factor,
        max_attempts: row.max_attempts,
        time_window_seconds: row.time_window_seconds,
        cleanup_interval_seconds: row.cleanup_interval_seconds,
        max_memory_ttl_seconds: row.max_memory_ttl_seconds,
        enabled: row.enabled,
      };
      const cur = await db
        .selectFrom('ban_config')
        .select('id')
        .where('name', '=', row.name)
        .executeTakeFirst();
      if (cur)
        await db
          .updateTable('ban_config')
          .set({ ...values, updated_at: new Date() })
          .where('id', '=', cur.id)
          .execute();
      else
        await db
          .insertInto('ban_config')
          .values({ name: row.name, ...values })
          .execute();
      const r = await db
        .selectFrom('ban_config')
        .selectAll()
        .where('name', '=', row.name)
        .executeTakeFirstOrThrow();
      return banConfigRowFrom(r);
    });
    this.log.info({ ban_config: out }, 'ban_config written');
    await this.afterChange();
    return out;
  }

  // --- status ------------------------------------------------------------------------------

  databaseStatus(): DatabaseStatus {
    const s: DatabaseStatus = {
      enabled: true,
      connected: this.connected,
      driver: this.cfg.driver,
      failure_count: this.failureCount,
      last_successful_load: this.lastLoad === null ? null : new Date(this.lastLoad).toISOString(),
      has_cached_config: this.snapshot !== null,
      pending_writes: this.journal.size + this.inflight,
      journal_dropped: this.journal.dropped,
    };
    if (this.lastError) s.last_error = this.lastError;
    return s;
  }

  configSource(): ConfigSourceStatus {
    const src = (fromDb: boolean): ConfigSourceName =>
      !fromDb ? 'file' : this.connected ? 'database' : 'database_cached';
    return {
      patterns_source: src(this.patternsFromDb),
      ban_config_source: src(this.banConfigFromDb),
      database_enabled: true,
      database_connected: this.connected,
      ...(this.patternErrors.length > 0 ? { patterns_rejected: this.patternErrors } : {}),
    };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function samePatterns(a: PatternRow[], b: PatternRow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (
      x.name !== y.name ||
      x.regex !== y.regex ||
      x.ip_group !== y.ip_group ||
      x.severity !== y.severity ||
      x.description !== y.description ||
      x.enabled !== y.enabled ||
      (x.raw === true) !== (y.raw === true)
    )
      return false;
  }
  return true;
}

function sameList(a: BanRecord[], b: BanRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].target !== b[i].target || a[i].reason !== b[i].reason || a[i].createdBy !== b[i].createdBy)
      return false;
  }
  return true;
}

function splitBatch(b: WriteBatch): WriteBatch[] {
  const out: WriteBatch[] = [];
  for (const [k, v] of b.bans) out.push({ bans: new Map([[k, v]]), offences: new Map(), lists: new Map() });
  for (const [k, v] of b.offences)
    out.push({ bans: new Map(), offences: new Map([[k, v]]), lists: new Map() });
  for (const [k, v] of b.lists) out.push({ bans: new Map(), offences: new Map(), lists: new Map([[k, v]]) });
  return out;
}

function describe(b: WriteBatch): string {
  for (const k of b.bans.keys()) return `ban ${k}`;
  for (const k of b.offences.keys()) return `offence ${k}`;
  for (const k of b.lists.keys()) return `list ${k}`;
  return 'nothing';
}
