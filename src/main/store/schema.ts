import type { ColumnType, Generated } from 'kysely';

/**
 * The tables as Kysely sees them. `patterns`, `ban_config`, `blacklist` and `whitelist` are the
 * reference system's, column for column, so its documented SQL keeps
 * working; `patterns.raw`, `bans` and `offences` are edgeban's (migration 2).
 *
 * Drivers return different JS types for the same SQL type (SQLite: 0/1 and text timestamps;
 * PostgreSQL: booleans, Date and DECIMAL as string; MySQL: 0/1 and Date), so read types are
 * loose and rows go through rows.ts before anyone uses them.
 */

/** A boolean column: written as a boolean (the SQLite driver binds 1/0), read as whatever the driver gives. */
export type BoolColumn = ColumnType<boolean | number, boolean | undefined, boolean>;
/** A reference TIMESTAMP column: read as Date (pg, mysql) or text (SQLite). */
export type TimestampColumn = ColumnType<Date | string | null, Date | string | undefined, Date | string>;
/** A BIGINT of unix milliseconds: pg gives int8 as string unless told otherwise. */
export type MsColumn = ColumnType<number | string | bigint, number, number>;
export type NullableMsColumn = ColumnType<number | string | bigint | null, number | null, number | null>;

export interface PatternsTable {
  id: Generated<number>;
  name: string;
  regex: string;
  ip_group: ColumnType<number, number | undefined, number>;
  severity: ColumnType<number, number | undefined, number>;
  description: string | null;
  enabled: BoolColumn;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
  /** edgeban: match the raw syslog line instead of `tag: message` (migration 2, default false). */
  raw: BoolColumn;
  /** edgeban: a successful login line, its jail resets the count (migration 3, default false). */
  success: ColumnType<boolean | number, boolean | undefined, boolean>;
  /** edgeban: fail2ban's ignoreregex, a JSON list of regexes (migration 7, default null = none). */
  ignoreregex: ColumnType<string | null, string | null | undefined, string | null>;
  /** edgeban: fail2ban's datepattern, a JSON list of date templates (migration 8, default null = none). */
  datepattern: ColumnType<string | null, string | null | undefined, string | null>;
  /** edgeban: the regex runs on the backtracking engine under the time budget (migration 6, default false). */
  backtracking: ColumnType<boolean | number, boolean | undefined, boolean>;
}

/** A nullable number column: pg gives DECIMAL as a string. */
type NullableNum = ColumnType<number | string | null, number | null | undefined, number | null>;

/** edgeban's `jails` (migration 3): null numbers mean the `ban:` policy's value. */
export interface JailsTable {
  id: Generated<number>;
  name: string;
  /** JSON array of pattern names or globs. */
  patterns: string;
  max_attempts: NullableNum;
  time_window_seconds: NullableNum;
  initial_ban_time_seconds: NullableNum;
  max_ban_time_seconds: NullableNum;
  escalation_factor: NullableNum;
  /** JSON array of service names; empty = every service. */
  services: string;
  weight: ColumnType<string, string | undefined, string>;
  source: ColumnType<string, string | undefined, string>;
  /** JSON array of jail names. */
  source_jails: string;
  mode: ColumnType<string, string | undefined, string>;
  /** JSON `{prefix, addresses, window}` (window in seconds), or null. */
  subnet: string | null;
  enabled: BoolColumn;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}

export interface BanConfigTable {
  id: Generated<number>;
  name: string;
  initial_ban_time_seconds: number;
  max_ban_time_seconds: number;
  /** REAL on SQLite, DECIMAL(10,6) elsewhere (pg gives a string). */
  escalation_factor: ColumnType<number | string, number, number>;
  max_attempts: number;
  time_window_seconds: number;
  cleanup_interval_seconds: number;
  max_memory_ttl_seconds: number;
  enabled: BoolColumn;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}

export interface ListTable {
  id: Generated<number>;
  /** An address or a CIDR (edgeban writes the canonical form). */
  ip_address: string;
  reason: string | null;
  created_at: TimestampColumn;
  created_by: ColumnType<string | null, string | undefined, string>;
  /** Soft delete, as the reference does; re-adding sets it back to true. */
  enabled: BoolColumn;
}

/** Active temporary bans (one row per target; lifted or expired rows are deleted). */
export interface BansTable {
  /** Canonical address, or canonical CIDR for prefix bans (IPv6 /64). */
  ip_address: string;
  /** `temp` (list entries live in blacklist/whitelist). */
  kind: string;
  reason: string;
  /** Pattern that caused it; null for manual bans. */
  pattern: string | null;
  created_at_ms: MsColumn;
  expires_at_ms: NullableMsColumn;
  created_by: string;
  node: string;
  /** Escalation level of this ban (1 = first). */
  ban_count: number;
  /** Jail that made it (`default` for rows from before jails); the key is (ip_address, jail). */
  jail: ColumnType<string, string | undefined, string>;
  /** Services it covers, comma-separated; null = every service. */
  services: ColumnType<string | null, string | null | undefined, string | null>;
}

/** The columns of a `bans` row besides its key and `kind` (read at start, copied on upsert). */
export const BAN_DETAIL_COLUMNS = [
  'reason',
  'pattern',
  'created_at_ms',
  'expires_at_ms',
  'created_by',
  'node',
  'ban_count',
  'services',
] as const;

/** Offence memory: how many bans an address (or IPv6 prefix) has had, and when the last one was. */
export interface OffencesTable {
  ip_address: string;
  ban_count: number;
  last_offence_ms: MsColumn;
}

/**
 * Bans that ended (migration 0005): one row per ended ban, purged after
 * `database.history_retention`. `range_start`/`range_end` are the ban's address range as fixed
 * width text (`4` + 8 hex digits, `6` + 32), so address and CIDR filters are range comparisons
 * any of the three databases indexes.
 */
export interface BanHistoryTable {
  id: Generated<number>;
  ip_address: string;
  range_start: string;
  range_end: string;
  jail: ColumnType<string, string | undefined, string>;
  /** Comma-separated service names; null = every service. */
  services: string | null;
  /** `temp` or `blacklist`. */
  kind: string;
  reason: string;
  pattern: string | null;
  created_at_ms: MsColumn;
  created_by: string;
  node: string;
  ban_count: number;
  expires_at_ms: NullableMsColumn;
  ended_at_ms: MsColumn;
  /** `expired`, `unban`, `whitelist`, `purge` or `replaced`. */
  end_reason: string;
  ended_by: string;
}

export interface Database {
  ban_history: BanHistoryTable;
  patterns: PatternsTable;
  ban_config: BanConfigTable;
  blacklist: ListTable;
  whitelist: ListTable;
  bans: BansTable;
  offences: OffencesTable;
  jails: JailsTable;
}

export type ListName = 'blacklist' | 'whitelist';
