/**
 * Contract between the ban engine, the store, the REST API and the fleet. The engine is the single writer of ban state: everything that changes a ban goes
 * through it, and it reports every change as a `BanEvent` so the store can persist it and the
 * API can stream it (`/api/events`).
 */

import type { JailSpec } from '../jails/types.js';
import type { EndedBanListener } from './history.js';
import type { BanRows, OffenceRows } from './restore-rows.js';
import type { EngineSnapshot } from './snapshot.js';

export type BanKind = 'temp' | 'blacklist' | 'whitelist';

/** One ban or list entry, as persisted and as shown by the API. Times are unix milliseconds. */
export interface BanRecord {
  /** Canonical address (`1.2.3.4`, `2001:db8::1`) or canonical CIDR (`10.0.0.0/8`, `2001:db8::/64`). */
  target: string;
  kind: BanKind;
  reason: string;
  /** Pattern name for bans made from log matches; null for manual ones. */
  pattern: string | null;
  createdAt: number;
  /** null = permanent (list entries). */
  expiresAt: number | null;
  /** `engine` for log-made bans; the API user / peer / `config` otherwise. */
  createdBy: string;
  /** How many bans this target has had (escalation level), this one included. */
  offences: number;
  /** Fleet node that made it. */
  node: string;
  /** Jail that made it (`default` for the `ban:` policy and for manual bans without one). */
  jail?: string;
  /** Services the ban covers; absent or empty = every service. */
  services?: string[];
  /** A shadow jail's would-be ban: reported, never in the ban table. */
  shadow?: boolean;
}

/**
 * Called for every failure a jail counted: the fleet adds these up across nodes. `target` holds
 * the counted target (IPv4 address, or the IPv6 prefix masked to `prefixLen`); reuse, do not keep.
 */
export type FailureListener = (
  jail: string,
  target: Uint8Array,
  family: 4 | 6,
  prefixLen: number,
  weight: number,
  timeMs: number,
) => void;

/** Escalation memory for one target (address, or IPv6 prefix). */
export interface OffenceRecord {
  target: string;
  banCount: number;
  /** unix ms of the last offence; forgotten `max_memory_ttl` after it. */
  lastOffence: number;
}

/**
 * `fleet`: the change was made on another node and only applied here; the store (that node wrote
 * it) and the fleet (that node published it) leave it alone, the event stream shows it.
 */
export type EventOrigin = 'fleet';

export type BanEvent =
  | { type: 'ban'; record: BanRecord; origin?: EventOrigin }
  | {
      type: 'unban';
      target: string;
      kind: BanKind;
      by: string;
      reason: string;
      at: number;
      origin?: EventOrigin;
      /** Temporary bans: the jail whose ban was lifted; absent = the target's bans in every jail. */
      jail?: string;
      /** The lifted ban was a shadow jail's would-be ban (never stored, never enforced). */
      shadow?: boolean;
    }
  | { type: 'offence'; record: OffenceRecord }
  | { type: 'forget'; target: string; at: number };

/** Escalation and counting policy (config `ban.*` or the `ban_config` row), durations in ms. */
export interface BanPolicy {
  initialBanTime: number;
  maxBanTime: number;
  escalationFactor: number;
  maxAttempts: number;
  timeWindow: number;
  cleanupInterval: number;
  maxMemoryTtl: number;
}

/** What `status()` says about one address (GET /api/bans/{ip}). */
export interface AddressStatus {
  ip: string;
  banned: boolean;
  /** Deciding entry kind, or null when nothing matched. */
  kind: BanKind | null;
  /** Target of the deciding entry (address or CIDR). */
  matched: string | null;
  reason: string | null;
  expiresAt: number | null;
  offences: number;
  /** Failures counted in the current window (every jail's added up). */
  failures: number;
  /** Per jail: its count of this address, its threshold, its ban, the lines that counted. */
  jails?: JailStatus[];
}

/** One jail's view of one address (the explain view). */
export interface JailStatus {
  jail: string;
  /** Failures (weights) counted in the jail's window. */
  failures: number;
  /** max_attempts. */
  threshold: number;
  /** time_window, ms. */
  window: number;
  mode: 'enforce' | 'shadow';
  /** The jail's ban of this address (its IPv6 prefix), or null. */
  ban: { expiresAt: number; services: string[]; shadow: boolean; reason: string; offences: number } | null;
  /** The last log lines that counted (a few, oldest first, each cut to 200 characters). */
  lines: string[];
}

export interface ListPage {
  total: number;
  items: BanRecord[];
}

export interface ListQuery {
  offset?: number;
  limit?: number;
  /** Substring or CIDR filter on the target. */
  filter?: string;
  /** Temporary bans of this jail only. */
  jail?: string;
  /** true: the shadow jails' would-be bans instead of the bans in force. */
  shadow?: boolean;
}

/** Operations the REST API and the store use. All are synchronous (in memory); persistence follows events. */
export interface BanEngineApi {
  /**
   * One failure seen in a log line (the matcher's output): `addr` holds 4 or 16 bytes in network
   * order (canonical, v4-mapped already folded to IPv4). `timeMs` is receive time for live lines,
   * the line's own timestamp for replays. Returns the ban when this failure started one.
   */
  recordFailure(
    addr: Uint8Array,
    family: 4 | 6,
    pattern: string,
    timeMs: number,
    /** The log line, when the caller has it: kept (bounded) for the explain view. */
    line?: string,
  ): BanRecord | null;
  /**
   * Manual ban. `permanent` → blacklist. Throws InvalidAddressError, and PrefixTooShortError for a
   * prefix wider than `ban.min_prefix_v4` / `ban.min_prefix_v6` unless `force`.
   */
  ban(
    target: string,
    opts: {
      durationMs?: number;
      reason?: string;
      createdBy?: string;
      permanent?: boolean;
      force?: boolean;
      /** The jail the ban belongs to (its escalation and its services); default `default`. */
      jail?: string;
      /** Scope; overrides the jail's `services`. Empty = every service. */
      services?: string[];
    },
  ): BanRecord;
  /**
   * Replace the jails (config reload, `jails` table change). Counts of jails that keep their name
   * and window are kept; a jail that goes away takes its counts, not its bans, with it.
   */
  setJails(jails: readonly JailSpec[]): void;
  /** Every failure a jail counts (fleet-wide counting). Returns the unsubscribe function. */
  onFailure(listener: FailureListener): () => void;
  /**
   * Failures that other nodes counted for (jail, target) (canonical address or CIDR): added to the
   * count here as if seen at `timeMs`. Returns the ban when they reach the jail's threshold.
   */
  recordRemoteFailures(jail: string, target: string, weight: number, timeMs: number): BanRecord | null;
  /**
   * Lifts the temporary bans (every jail's, or only `jail`'s) and the blacklist entry (not when
   * `jail` is given) for exactly this target.
   */
  unban(
    target: string,
    opts: { by?: string; reason?: string; jail?: string },
  ): { temp: boolean; blacklist: boolean };
  /**
   * Adds a whitelist entry (address or CIDR): the bans it covers stay stored but are not in force
   * (nor listed) until it is removed. Same prefix floor as `ban`.
   */
  whitelistAdd(
    target: string,
    opts: { reason?: string; createdBy?: string; force?: boolean },
  ): { record: BanRecord; added: boolean };
  whitelistRemove(target: string, opts: { by?: string; reason?: string }): boolean;
  blacklistAdd(
    target: string,
    opts: { reason?: string; createdBy?: string; force?: boolean },
  ): { record: BanRecord; added: boolean };
  blacklistRemove(target: string, opts: { by?: string; reason?: string }): boolean;
  list(kind: BanKind, query: ListQuery): ListPage;
  status(ip: string): AddressStatus;
  /** Lifts every active temporary ban; returns how many (expired ones are not counted). */
  purgeTempBans(by: string): number;
  setPolicy(policy: BanPolicy): void;
  getPolicy(): BanPolicy;
  /**
   * A ban or unban made on another node of the fleet: applied here and reported with
   * `origin: 'fleet'`. Returns false when it changed nothing (already known, expired).
   */
  applyRemote(e: Extract<BanEvent, { type: 'ban' | 'unban' }>): boolean;
  /** Start-up: put persisted state back (bans with their remaining time, offence memory). */
  restore(bans: BanRecord[], offences: OffenceRecord[]): void;
  /**
   * The restore from persisted rows `from`…`to` (temporary bans, offence memory) without an
   * object per row; targets in `skip` are left alone.
   */
  restoreRows(
    bans: BanRows,
    offences: OffenceRows,
    from?: number,
    to?: number,
    skip?: ReadonlySet<string>,
  ): void;
  /** Before a restore of about this many rows: room for them in `jail`'s bans, offences and the table. */
  reserveRestore(bans: number, offences: number, jail: string): void;
  /**
   * The temporary bans and offence memory as a snapshot file's bytes, for `database` (whose
   * state fingerprint is `digest`).
   */
  snapshotState(database: string, digest?: string | null): Buffer;
  /** A snapshot's bans and offences, in force now, unconfirmed until the database shows them. */
  loadSnapshot(s: EngineSnapshot): { bans: number; offences: number };
  /** After a whole restore from the database: the snapshot's rows it did not show go. */
  dropUnconfirmed(): { bans: number; offences: number };
  /** Replace the list entries that came from a given source (config file or database). */
  replaceLists(source: 'config' | 'database', entries: BanRecord[]): void;
  onEvent(listener: (e: BanEvent) => void): () => void;
  /**
   * Every ban that ends on this node (unban, purge, replaced, expiry of its own bans, hidden by a
   * new whitelist entry; not another node's changes): the store's history. Returns the unsubscribe.
   */
  onBanEnded(listener: EndedBanListener): () => void;
}

export { DEFAULT_JAIL } from '../jails/types.js';
