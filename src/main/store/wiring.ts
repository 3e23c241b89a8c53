import { resolve } from 'node:path';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import { effectivePatterns } from '../../shared/patterns/presets/index.js';
import type { Config } from '../config/types.js';
import type { BanEngineApi, BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import { claimPatterns, conflictText, mergeJails, resolveJail, sameJails } from '../jails/resolve.js';
import type { JailSpec } from '../jails/types.js';
import { asError, type Logger } from '../log/logger.js';
import type { AppContext, Service } from '../service.js';
import { dialectOf } from './connect.js';
import { WriteJournal } from './journal.js';
import { NullStore } from './null-store.js';
import { DatabaseOpenError, sqliteOpenProblem } from './open-hint.js';
import { policyOf, specOf } from './rows.js';
import { SqlStore } from './sql-store.js';
import { StateSnapshotFile } from './state-snapshot.js';
import type { PolicySnapshot, StatePage, Store } from './types.js';

/** The last good copy of a remote database's policy, in the working folder. */
export const POLICY_CACHE_FILE = 'edgeban-policy-cache.json';
/** The changes made while a remote database is down, in the working folder. */
export const JOURNAL_FILE = 'edgeban-journal.jsonl';

const TOUCHED_MAX = 1_000_000;

/** Bans and offences handed to the engine per step of the restore (the loop yields in between). */
const RESTORE_CHUNK = 2_000;

export interface StoreWiringDeps {
  ctx: AppContext;
  engine: Pick<
    BanEngineApi,
    | 'onEvent'
    | 'onBanEnded'
    | 'restore'
    | 'restoreRows'
    | 'reserveRestore'
    | 'snapshotState'
    | 'loadSnapshot'
    | 'dropUnconfirmed'
    | 'replaceLists'
    | 'setPolicy'
    | 'getPolicy'
    | 'setJails'
  >;
  /** The matcher pool's owner (IngestService). */
  ingest: { setPatterns(specs: readonly PatternSpec[]): void };
}

export interface StoreWiring {
  store: Store;
  binding: StoreBinding;
  /** Start first, stop last: connect, migrate, load the policy; final flush and close. */
  first: Service;
  /**
   * Start after the other listeners: resolves once the persisted bans are in the engine, or at
   * once when the database does not answer yet (the restore then runs when it does). Reload:
   * re-apply the database policy.
   */
  last: Service;
}

/**
 * Binds the store to the engine and the matcher pool: every engine event is queued for writing,
 * every new policy snapshot reaches the engine (ban_config, lists) and the workers (patterns),
 * and persisted bans are restored once the database answers.
 */
export class StoreBinding {
  private readonly log: Logger;
  private applied: PolicySnapshot | null = null;
  /** The jails last handed to the engine (a reload that changes none delivers none). */
  private delivered: JailSpec[] | null = null;
  private readonly warned = new Set<string>();
  /** Targets changed since start: the restore must not put older state over them. */
  private readonly touched = new Set<string>();
  private restored = false;
  /**
   * The last stop's snapshot is in force (its rows unconfirmed until the restore): whether the
   * database is unchanged since. Null: no snapshot was loaded.
   */
  snapshot: Promise<boolean> | null = null;
  /** The snapshot's bans are the database's: the listeners need not wait for the restore. */
  private fromSnapshot = false;
  private restoring: Promise<void> | null = null;
  private started = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    readonly store: Store,
    private readonly deps: StoreWiringDeps,
  ) {
    this.log = deps.ctx.log.child({ subsystem: 'store' });
    this.unsubscribe.push(
      deps.engine.onEvent((e: BanEvent) => {
        // another node made (and wrote) it: the shared database has it already
        if ((e.type === 'ban' || e.type === 'unban') && e.origin === 'fleet') return;
        store.enqueue(e);
        // bounded: a long outage at start must not grow it without end (beyond it, a restore may
        // put an older ban back over a newer one for the same target)
        if (!this.restored && this.touched.size < TOUCHED_MAX)
          this.touched.add(e.type === 'ban' || e.type === 'offence' ? e.record.target : e.target);
      }),
    );
    this.unsubscribe.push(deps.engine.onBanEnded((e) => store.recordEnded(e)));
    this.unsubscribe.push(store.onPolicy((p) => this.apply(p, false)));
    this.unsubscribe.push(
      store.onReady(() => {
        if (this.started) this.restore().catch(() => {});
      }),
    );
  }

  /** Hands a snapshot to the engine and the workers; unchanged parts are skipped unless `force`. */
  apply(p: PolicySnapshot, force: boolean): void {
    const prev = this.applied;
    if (p.patterns.length > 0 && (force || prev?.patterns !== p.patterns)) {
      try {
        this.deps.ingest.setPatterns(p.patterns.map(specOf));
        this.log.info(
          { patterns: p.patterns.filter((x) => x.enabled).length, source: 'database' },
          'patterns loaded from the database',
        );
      } catch (err) {
        this.log.error(
          { err: asError(err) },
          'database patterns rejected by the matcher; keeping the previous set',
        );
      }
    }
    if (p.banConfig && (force || prev?.banConfig !== p.banConfig)) {
      this.deps.engine.setPolicy(policyOf(p.banConfig));
      this.log.info({ ban_config: p.banConfig.name }, 'ban policy loaded from the database');
    }
    if (force || prev?.blacklist !== p.blacklist || prev?.whitelist !== p.whitelist) {
      this.deps.engine.replaceLists('database', [...p.blacklist, ...p.whitelist]);
    }
    // the database's jails take their unset numbers from the policy in force (ban_config)
    if (force || prev?.jails !== p.jails || prev?.banConfig !== p.banConfig) this.applyJails(p, force);
    this.applied = p;
  }

  /** The config file's jails with the database's over them (same name: the database's). */
  private applyJails(p: PolicySnapshot, force: boolean): void {
    const policy = this.deps.engine.getPolicy();
    const fromDb = (p.jails ?? []).map((j) => resolveJail(j, policy, 'database'));
    const merged = mergeJails(this.deps.ctx.config.jails ?? [], fromDb);
    // forced (after SIGHUP, which set the file's jails alone): always delivered
    if (!force && this.delivered && sameJails(this.delivered, merged)) return;
    this.delivered = merged;
    this.deps.engine.setJails(merged);
    const names = p.patterns.length > 0 ? p.patterns.map((x) => x.name) : [];
    for (const c of claimPatterns(merged, names).conflicts)
      this.warnOnce(`claim:${c.pattern}:${c.jail}:${c.other}`, conflictText(c));
    this.log.info(
      { jails: merged.map((j) => j.name), database: fromDb.length },
      'jails loaded (config file and database)',
    );
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key) || this.warned.size > 10_000) return;
    this.warned.add(key);
    this.log.warn({ reason: 'pattern claimed twice' }, msg);
  }

  /**
   * Changes the last run journaled to disk during an outage and never wrote: into the engine now
   * (the database may still be away), and kept from the restore, whose rows are older.
   */
  applyRecovered(events: BanEvent[]): void {
    if (events.length === 0) return;
    const j = new WriteJournal(Number.MAX_SAFE_INTEGER);
    for (const e of events) j.add(e); // the latest change per target wins
    const b = j.take();
    const bans: BanRecord[] = [];
    const offences: OffenceRecord[] = [];
    for (const [target, w] of b.bans) {
      this.touched.add(target);
      if (w.op === 'put') bans.push(w.record);
    }
    for (const w of b.lists.values()) {
      this.touched.add(w.op === 'put' ? w.record.target : w.target);
      if (w.op === 'put') bans.push(w.record);
    }
    for (const [target, w] of b.offences) {
      this.touched.add(target);
      if (w.op === 'put') offences.push(w.record);
    }
    this.deps.engine.restore(bans, offences);
    this.log.info(
      { bans: bans.length, offences: offences.length },
      'bans journaled during the last outage are back in force',
    );
  }

  /** After a file reload (SIGHUP) put the database's policy back over the file's. */
  reapply(): void {
    const cached = this.store.cachedPolicy;
    if (cached) this.apply(cached, true);
  }

  async startRestore(): Promise<void> {
    this.started = true;
    if (this.snapshot !== null) {
      this.fromSnapshot = await this.snapshot;
      this.log.info(
        { database_unchanged: this.fromSnapshot },
        this.fromSnapshot
          ? 'the database is unchanged since the snapshot: its restore confirms the bans in the background'
          : 'the database changed since the snapshot (or does not answer): the SPOA opens once its restore is done',
      );
    }
    if (!this.store.isConnected) return;
    const done = this.restore();
    // the snapshot's bans are in force already: the listeners need not wait for the database's
    // confirmation, which runs in the background
    if (this.fromSnapshot) done.catch((err) => this.log.error({ err: asError(err) }, 'restore failed'));
    else await done;
  }

  /** Loads persisted bans and offence memory and gives them to the engine in chunks. */
  restore(): Promise<void> {
    if (this.restored) return Promise.resolve();
    if (this.restoring) return this.restoring;
    this.restoring = this.doRestore().finally(() => {
      this.restoring = null;
    });
    return this.restoring;
  }

  private async doRestore(): Promise<void> {
    const t0 = performance.now();
    const skip = this.touched;
    let announced = false;
    const page = async (p: StatePage) => {
      // the most bans are in the first page's jail (one jail: all of them); after a snapshot the
      // rows mostly confirm what is held already, and sizing for them again would double it
      if (p.totals && p.bans.length > 0 && !this.fromSnapshot)
        this.deps.engine.reserveRestore(p.totals.bans, p.totals.offences, p.bans.jail(0));
      if (!announced && p.bans.length >= RESTORE_CHUNK) {
        announced = true;
        if (!this.fromSnapshot)
          this.log.info('restoring persisted bans; the SPOA port opens once they are in');
      }
      const n = Math.max(p.bans.length, p.offences.length);
      for (let i = 0; i < n; i += RESTORE_CHUNK) {
        // rows changed since by a newer source (the journal of the last run) stay as they are
        this.deps.engine.restoreRows(p.bans, p.offences, i, i + RESTORE_CHUNK, skip);
        // let lookups and the rest of the loop run between chunks
        await new Promise((r) => setImmediate(r));
      }
    };
    let counts: { bans: number; offences: number };
    try {
      counts = await this.store.loadStatePaged(Date.now(), page);
    } catch (err) {
      this.log.warn(
        { err: asError(err) },
        'persisted bans not loaded yet (database unavailable); retrying when it answers',
      );
      return;
    }
    // what a snapshot put and the database did not show is gone from the database
    const dropped = this.deps.engine.dropUnconfirmed();
    this.restored = true;
    this.touched.clear();
    this.log.info(
      {
        bans: counts.bans,
        offences: counts.offences,
        ms: Math.round(performance.now() - t0),
        ...(this.snapshot !== null ? { snapshot_dropped: dropped } : {}),
      },
      'persisted bans restored',
    );
  }

  get isRestored(): boolean {
    return this.restored;
  }

  close(): void {
    for (const u of this.unsubscribe) u();
  }
}

/** Builds the store for `database.*` and the two services the app runs it with. */
export function wireStore(deps: StoreWiringDeps): StoreWiring {
  const { ctx } = deps;
  const cfg = ctx.config.database;
  const log = ctx.log.child({ subsystem: 'store' });
  const snapshot = StateSnapshotFile.for(ctx.config, log);
  const store: Store = cfg.enabled
    ? new SqlStore({
        config: cfg,
        log,
        metrics: ctx.metrics,
        seed: { patterns: effectivePatterns(ctx.config.syslog.patterns), policy: deps.engine.getPolicy() },
        // a copy of the policy for a start while a remote database is down (SQLite is local already)
        cacheFile: dialectOf(cfg.driver) === 'sqlite' ? null : resolve(POLICY_CACHE_FILE),
        // and of the changes made while it is down
        journalFile: dialectOf(cfg.driver) === 'sqlite' ? null : resolve(JOURNAL_FILE),
        // the history's retention runs on the sweep's tick
        historyPurgeIntervalMs: ctx.config.ban.cleanup_interval,
        // the state snapshot's mark of the database it was written for
        digestOnStop: snapshot !== null,
      })
    : new NullStore(cfg.driver);
  const binding = new StoreBinding(store, deps);
  const first: Service = {
    name: 'store',
    start: async () => {
      await store.start();
      // a local file that does not open now will not open by itself later (unlike a server that
      // is down): refuse to start, unless the operator chose a start without it
      if (cfg.enabled && !store.isConnected && dialectOf(cfg.driver) === 'sqlite') {
        const problem = sqliteOpenProblem(cfg.dsn, store.databaseStatus().last_error);
        if (!cfg.optional) {
          await store.stop();
          throw new DatabaseOpenError(problem);
        }
        log.error(
          { dsn: cfg.dsn, uid: process.getuid?.() },
          `${problem}. database.optional is true: running with bans in memory only, retrying the database`,
        );
      }
      // the last stop's state first: the journal of changes it could not write is newer
      if (snapshot !== null)
        binding.snapshot = snapshot.load(deps.engine, () => store.stateDigest())?.unchanged ?? null;
      binding.applyRecovered(store.takeRecovered());
    },
    stop: async () => {
      await store.stop();
      // after the final flush: the file holds what the database holds, or the journal covers
      snapshot?.write(deps.engine, store.stopDigest);
      binding.close();
    },
  };
  const last: Service = {
    name: 'store-restore',
    start: () => binding.startRestore().catch((err: Error) => log.error({ err }, 'restore failed')),
    stop: async () => {},
    reload: (_config: Config) => {
      binding.reapply();
      store.reloadNow().catch((err: Error) => log.warn({ err }, 'database reload after SIGHUP failed'));
    },
  };
  return { store, binding, first, last };
}
