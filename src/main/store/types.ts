import type { EndedBan } from '../engine/history.js';
import type { BanRows, OffenceRows } from '../engine/restore-rows.js';
import type { BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import type { JailInput } from '../jails/fields.js';
import type { HistoryPage, HistoryQuery } from './history.js';
import type { StoredJail } from './jail-rows.js';
import type { RecentBan } from './recent-bans.js';

/** A row of the reference system's `patterns` table. */
export interface PatternRow {
  id: number;
  name: string;
  regex: string;
  ip_group: number;
  severity: number;
  description: string;
  enabled: boolean;
  created_at: string;
  updated_at: string;
  /** edgeban's column (default false): match the raw syslog line instead of `tag: message`. */
  raw?: boolean;
  /** edgeban's column (default false): a successful login line; its jail resets the count. */
  success?: boolean;
  /** edgeban's column (default false): the regex needs the backtracking engine (imported fail2ban filters). */
  backtracking?: boolean;
  /** edgeban's column (default none): fail2ban's ignoreregex, lines it also matches do not count. */
  ignoreregex?: string[];
  /** The column's text when it is not a JSON list of strings (the row is then refused). */
  ignoreregexInvalid?: string;
  /** edgeban's column (default none): fail2ban's datepattern, cut out of a headerless line first. */
  datepattern?: string[];
  /** The column's text when it is not a JSON list of strings (the row is then refused). */
  datepatternInvalid?: string;
}

/** A row of the reference `ban_config` table, durations in seconds as the columns are. */
export interface BanConfigRow {
  name: string;
  initial_ban_time_seconds: number;
  max_ban_time_seconds: number;
  escalation_factor: number;
  max_attempts: number;
  time_window_seconds: number;
  cleanup_interval_seconds: number;
  max_memory_ttl_seconds: number;
  enabled: boolean;
}

export type ConfigSourceName = 'file' | 'database' | 'database_cached';

/** GET /database/status (the reference system's fields). */
export interface DatabaseStatus {
  enabled: boolean;
  connected: boolean;
  driver: string;
  failure_count: number;
  last_successful_load: string | null;
  has_cached_config: boolean;
  last_error?: string;
  /** edgeban: ban/list/offence changes not yet in the database (the journal while it is down). */
  pending_writes?: number;
  /** edgeban: changes dropped because the journal was full during an outage. */
  journal_dropped?: number;
}

/** GET /config/source (the reference system's fields). */
export interface ConfigSourceStatus {
  patterns_source: ConfigSourceName;
  ban_config_source: ConfigSourceName;
  database_enabled: boolean;
  database_connected: boolean;
  /** edgeban: database pattern rows skipped because they do not compile (the others apply). */
  patterns_rejected?: PatternRowError[];
  /** edgeban: database jail rows skipped because they do not validate (the others apply). */
  jails_rejected?: JailRowError[];
}

/** A pattern row left out of the active set, and why. */
export interface PatternRowError {
  id: number;
  name: string;
  error: string;
}

/** A `jails` row left out of the policy, and why (the others apply). */
export interface JailRowError {
  id: number;
  name: string;
  error: string;
}

/** Policy read from the database, handed to the matcher pool and the engine on reload. */
export interface PolicySnapshot {
  patterns: PatternRow[];
  banConfig: BanConfigRow | null;
  blacklist: BanRecord[];
  whitelist: BanRecord[];
  /** The `jails` rows that validate, by name (unset numbers still null: the `ban:` values). */
  jails: StoredJail[];
}

/** A page of the start-up restore: active bans and offence memory. */
/** One page of the start-up read, row by row in place (columns from SQLite, records elsewhere). */
export interface StatePage {
  bans: BanRows;
  offences: OffenceRows;
  /**
   * On the first page, when the database could count them cheaply: the rows the whole read will
   * bring, so the engine sizes its columns and the table once instead of doubling on the way.
   */
  totals?: { bans: number; offences: number };
}

/**
 * The store: SqlStore (sql-store.ts) with `database.enabled: true`, NullStore (null-store.ts)
 * without a database. Everything outside the store works with this interface only.
 */
export interface Store {
  /** Connect and migrate. Does not throw when the database is down: status says so and it retries. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Connected and migrated right now. */
  readonly isConnected: boolean;
  /** Called once per transition to "connected and migrated" (the restore waits for it). */
  onReady(listener: () => void): () => void;
  /** Changes the last run journaled to disk during an outage and never wrote; handed out once. */
  takeRecovered(): BanEvent[];
  /** Queue an engine event for a batched write (log-made bans, within database.flush_interval). */
  enqueue(e: BanEvent): void;
  /** Queue an ended ban for `ban_history` (written with the next batch; nothing when retention is 0). */
  recordEnded(e: EndedBan): void;
  /** A page of `ban_history`, newest first. E_DB_DISABLED / E_DB_UNAVAILABLE without a database. */
  readHistory(q: HistoryQuery): Promise<HistoryPage>;
  /**
   * Temporary bans made since `sinceMs`, in force or ended, the oldest first (at most `limit`, the
   * newest kept): recidive and subnet counts rebuilt at start. Empty without a database.
   */
  readRecentBans(sinceMs: number, limit: number): Promise<RecentBan[]>;
  /** Resolves once every event enqueued so far is written (or journaled when the DB is down). */
  flush(): Promise<{ durable: boolean }>;
  /** A fingerprint of every `bans` and `offences` row (state-digest.ts); null when unavailable. */
  stateDigest(): Promise<string | null>;
  /** The fingerprint the stop took after its final write (null: none, or writes were left). */
  readonly stopDigest: string | null;
  /** Active bans and offence memory for start-up. */
  loadState(nowMs: number): Promise<{ bans: BanRecord[]; offences: OffenceRecord[] }>;
  /**
   * The same, page by page: the next page is read while `onPage` works on this one. Resolves
   * with the counts; E_DB_UNAVAILABLE when the database is away.
   */
  loadStatePaged(
    nowMs: number,
    onPage: (p: StatePage) => void | Promise<void>,
  ): Promise<{ bans: number; offences: number }>;
  /** Active temporary bans written by nodes other than `node`, in pages (the fleet's catch-up). */
  readOtherNodesBans(
    node: string,
    nowMs: number,
    onPage: (bans: BanRecord[]) => void | Promise<void>,
  ): Promise<number>;
  /** Re-read patterns, ban_config and lists now (after an API change). */
  reloadNow(): Promise<void>;
  onPolicy(listener: (p: PolicySnapshot) => void): () => void;
  /** The last good policy read from the database (null before the first, or without one). */
  readonly cachedPolicy: PolicySnapshot | null;

  listPatterns(): Promise<PatternRow[]>;
  createPattern(p: Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>): Promise<PatternRow>;
  updatePattern(
    id: number,
    p: Partial<Omit<PatternRow, 'id' | 'created_at' | 'updated_at'>>,
  ): Promise<PatternRow | null>;
  deletePattern(id: number): Promise<boolean>;
  getBanConfig(name?: string): Promise<BanConfigRow | null>;
  putBanConfig(row: BanConfigRow): Promise<BanConfigRow>;

  /** `jails` rows by name; a row that does not validate is listed with its `error`. */
  listJails(): Promise<(StoredJail | JailRowError)[]>;
  /** Validates and writes; E_JAIL_DUPLICATE for a name taken. Reloaded before it resolves. */
  createJail(j: JailInput): Promise<StoredJail>;
  /** Replaces the fields given (snake_case, as the config); null when there is no such row. */
  updateJail(name: string, fields: Record<string, unknown>): Promise<StoredJail | null>;
  deleteJail(name: string): Promise<boolean>;

  databaseStatus(): DatabaseStatus;
  configSource(): ConfigSourceStatus;
}
