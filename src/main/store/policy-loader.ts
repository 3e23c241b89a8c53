import { Gauge } from 'prom-client';
import { PatternSet } from '../../shared/patterns/set.js';
import type { DatabaseConfig } from '../config/types.js';
import type { BanRecord } from '../engine/types.js';
import { MAX_JAILS } from '../jails/fields.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { chosenBanConfig, enabledBanConfigs } from './ban-config-query.js';
import { StoreUnavailableError } from './errors.js';
import { housekeepExpiredBans } from './expired-bans.js';
import { jailFromRow, type RawJailRow, type StoredJail } from './jail-rows.js';
import type { Link } from './link.js';
import type { PolicyCache } from './policy-cache.js';
import { type ListRows, sameJailRows, sameList, samePatterns } from './policy-compare.js';
import { listRecordFrom, patternRowFrom, specOf, validateBanConfig } from './rows.js';
import type { ListName } from './schema.js';
import { Serial } from './serial.js';
import { errText } from './text.js';
import type { BanConfigRow, JailRowError, PatternRow, PatternRowError, PolicySnapshot } from './types.js';
import type { Writer } from './writer.js';

export interface PolicyLoaderOptions {
  config: DatabaseConfig;
  link: Link;
  writer: Pick<Writer, 'journal' | 'write'>;
  log: Logger;
  metrics?: Metrics;
  /** Offence memory TTL until the database's ban_config says otherwise (housekeeping). */
  fallbackMemoryTtlMs: number;
  cache: PolicyCache | null;
}

/**
 * The policy from the database: patterns, ban_config and lists, re-read every refresh interval
 * (and at once when asked), validated (a bad row is skipped and reported, never applied), and
 * handed to the listeners when it changed. It keeps the last good snapshot (and its copy on disk)
 * for the time the database is away.
 */
export class PolicyLoader {
  private snapshot: PolicySnapshot | null = null;
  private lastLoad: number | null = null;
  private fromDb = { patterns: false, banConfig: false };
  /** Database pattern rows left out of the last load because they do not compile. */
  private patternErrors: PatternRowError[] = [];
  /** Database jail rows left out of the last load because they do not validate. */
  private jailErrors: JailRowError[] = [];
  /** Raw `ip_address` texts seen per `kind|canonical` (rows written by hand need not be canonical). */
  private listVariants = new Map<string, string[]>();
  private readonly rejected = new Set<string>();
  private readonly reloads = new Serial();
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners = new Set<(p: PolicySnapshot) => void>();
  private readonly link: Link;
  private readonly log: Logger;

  constructor(private readonly opts: PolicyLoaderOptions) {
    this.link = opts.link;
    this.log = opts.log;
  }

  /** The last good snapshot (null before the first successful load). */
  get cached(): PolicySnapshot | null {
    return this.snapshot;
  }

  get lastLoadAt(): number | null {
    return this.lastLoad;
  }

  get patternsFromDb(): boolean {
    return this.fromDb.patterns;
  }

  get banConfigFromDb(): boolean {
    return this.fromDb.banConfig;
  }

  get rejectedPatterns(): PatternRowError[] {
    return this.patternErrors;
  }

  get rejectedJails(): JailRowError[] {
    return this.jailErrors;
  }

  variantsOf(kind: ListName, target: string): readonly string[] {
    return this.listVariants.get(`${kind}|${target}`) ?? [];
  }

  onPolicy(listener: (p: PolicySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads every refresh interval while the database answers. */
  start(): void {
    this.refreshTimer = setInterval(() => {
      if (this.link.isConnected) this.reloadWithRetries().catch(() => {});
    }, this.opts.config.refresh_interval);
    this.refreshTimer.unref();
  }

  halt(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves once the reloads and cache writes asked for so far are done. */
  async idle(): Promise<void> {
    await this.reloads.idle();
    await this.opts.cache?.idle();
  }

  /** The copy on disk, applied like a load; false when there is none usable. */
  async loadCache(): Promise<boolean> {
    const p = (await this.opts.cache?.read()) ?? null;
    if (!p) return false;
    this.snapshot = p;
    this.fromDb = { patterns: p.patterns.length > 0, banConfig: p.banConfig !== null };
    this.opts.metrics?.configReloads.inc({ source: 'database_cached', status: 'success' });
    this.emit(p);
    return true;
  }

  /** Reloads run one after the other. */
  reload(): Promise<void> {
    return this.reloads.run(() => this.load());
  }

  /** Periodic reload: `max_retries` more attempts, `retry_delay` doubling between them. */
  private async reloadWithRetries(): Promise<void> {
    const cfg = this.opts.config;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.reload();
        return;
      } catch (err) {
        if (this.link.isStopped || !this.link.isConnected) return;
        if (attempt >= cfg.max_retries) {
          this.link.fail(err);
          return;
        }
        const text = this.link.noteRetry(err);
        this.log.warn({ err: text, attempt: attempt + 1 }, 'database reload failed: retrying');
        await this.sleep(cfg.retry_delay * 2 ** attempt);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        r();
      }, ms);
      t.unref();
      this.timers.add(t);
    });
  }

  /** Reads patterns, ban_config and lists, validates them and tells the listeners what changed. */
  private async load(): Promise<void> {
    const conn = this.link.current;
    if (!conn) throw new StoreUnavailableError('reloading');
    const { writer, metrics } = this.opts;
    // changes not yet written go first, so a reload never undoes them
    if (writer.journal.size > 0 && this.link.isConnected) await writer.write();
    const db = conn.db;
    let patternRows: PatternRow[];
    let banRows: BanConfigRow[];
    let lists: ListRows[];
    let jailRows: RawJailRow[];
    try {
      patternRows = (await db.selectFrom('patterns').selectAll().orderBy('id').execute()).map(patternRowFrom);
      // bounded: a table grown by mistake must not make every reload (and the engine) unbounded
      jailRows = (await db
        .selectFrom('jails')
        .selectAll()
        .orderBy('name')
        .limit(MAX_JAILS + 1)
        .execute()) as RawJailRow[];
      banRows = await enabledBanConfigs(db);
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
      await housekeepExpiredBans(db, now, this.opts.config.history_retention > 0);
      const ttl = this.snapshot?.banConfig
        ? this.snapshot.banConfig.max_memory_ttl_seconds * 1000
        : this.opts.fallbackMemoryTtlMs;
      await db
        .deleteFrom('offences')
        .where('last_offence_ms', '<', now - ttl)
        .execute();
    } catch (err) {
      this.link.op('reload', 'failure');
      metrics?.configReloads.inc({ source: 'database', status: 'failure' });
      throw err;
    }
    this.link.op('reload', 'success');
    this.lastLoad = Date.now();
    this.apply(patternRows, banRows, lists, jailRows);
  }

  private apply(
    patternRows: PatternRow[],
    banRows: BanConfigRow[],
    lists: ListRows[],
    jailRows: RawJailRow[],
  ): void {
    const prev = this.snapshot;
    let ok = true;
    // patterns: a row that does not compile is skipped (and reported), the others apply
    let patterns = prev?.patterns ?? [];
    const screened = this.screenPatterns(patternRows);
    const enabled = screened.filter((p) => p.enabled);
    if (enabled.length === 0) {
      ok = false;
      this.reportOnce(
        'patterns:none',
        { rows: patternRows.length, invalid: this.patternErrors.length },
        'database patterns rejected: no enabled pattern that compiles (nothing could be banned); keeping the previous set',
      );
    } else if (!samePatterns(patterns, screened)) {
      patterns = screened;
      this.fromDb.patterns = true;
    }
    let banConfig = prev?.banConfig ?? null;
    const chosen = chosenBanConfig(banRows);
    if (chosen && JSON.stringify(chosen) !== JSON.stringify(banConfig)) {
      try {
        validateBanConfig(chosen);
        banConfig = chosen;
        this.fromDb.banConfig = true;
      } catch (err) {
        ok = false;
        this.reportOnce(
          `ban_config:${errText(err)}`,
          { err: asError(err) },
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
          this.reportOnce(
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
        if (this.opts.writer.journal.pendingList(kind, rec.target)?.op === 'del') continue;
        out[kind].push(rec);
      }
    }
    this.listVariants = variants;
    const blacklist = prev && sameList(prev.blacklist, out.blacklist) ? prev.blacklist : out.blacklist;
    const whitelist = prev && sameList(prev.whitelist, out.whitelist) ? prev.whitelist : out.whitelist;
    const screenedJails = this.screenJails(jailRows);
    const jails = prev && sameJailRows(prev.jails, screenedJails) ? prev.jails : screenedJails;
    const next: PolicySnapshot = { patterns, banConfig, blacklist, whitelist, jails };
    this.snapshot = next;
    this.opts.metrics?.configReloads.inc({ source: 'database', status: ok ? 'success' : 'failure' });
    const changed =
      !prev ||
      prev.patterns !== next.patterns ||
      prev.banConfig !== next.banConfig ||
      prev.blacklist !== next.blacklist ||
      prev.whitelist !== next.whitelist ||
      prev.jails !== next.jails;
    if (changed) {
      this.emit(next);
      this.opts.cache?.save(next);
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
        this.reportOnce(
          `pattern-row:${row.id}:${error}`,
          { pattern: row.name, id: row.id, err: error },
          'database pattern skipped: it does not compile; the other patterns apply',
        );
      }
    }
    this.patternErrors = errors;
    const reg = this.opts.metrics?.registry;
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

  /** The jail rows that validate; each one that does not is left out, listed and logged once. */
  private screenJails(all: RawJailRow[]): StoredJail[] {
    const rows = all.length > MAX_JAILS ? all.slice(0, MAX_JAILS) : all;
    if (all.length > MAX_JAILS)
      this.reportOnce(
        'jails:too-many',
        { limit: MAX_JAILS },
        `more than ${MAX_JAILS} jail rows: the first ${MAX_JAILS} by name apply`,
      );
    const good: StoredJail[] = [];
    const errors: JailRowError[] = [];
    for (const row of rows) {
      const r = jailFromRow(row);
      if ('jail' in r) {
        good.push(r.jail);
        continue;
      }
      errors.push({ id: Number(row.id), name: String(row.name), error: r.error });
      this.reportOnce(
        `jail-row:${String(row.id)}:${r.error}`,
        { jail: row.name, id: row.id, reason: r.error },
        'database jail skipped: it does not validate; the other jails apply',
      );
    }
    this.jailErrors = errors;
    return good;
  }

  /** Logs a rejected row or failure once per key: the same bad row is read every refresh. */
  reportOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.rejected.has(key)) return;
    this.rejected.add(key);
    this.log.error(fields, msg);
  }

  private emit(p: PolicySnapshot): void {
    for (const l of this.listeners) {
      try {
        l(p);
      } catch (err) {
        this.log.error({ err }, 'policy listener failed');
      }
    }
  }
}
