/**
 * Jails: per-service policies. A jail owns some patterns (by name or glob), counts their failures
 * per address in its own window, bans at its own threshold for its own escalating time, and scopes
 * the ban to its services (none = everywhere). Patterns that no jail claims use the `ban:` policy:
 * that is the jail named `default`, so a reference-system config or database works unchanged.
 *
 * This file is the contract between the jail config (config file, `jails` table, API), the
 * counting side (which failures ban), the engine (which holds the bans per target and jail) and
 * the fleet (which adds every node's counts up). Durations are milliseconds.
 */

/** The jail of every pattern that no configured jail claims: the `ban:` policy. */
export const DEFAULT_JAIL = 'default';

/** How much one matched line counts towards `maxAttempts`. */
export type JailWeight = 'one' | 'severity';

/** `logs`: failures from log lines. `bans`: the bans of other jails (fail2ban's recidive). */
export type JailSource = 'logs' | 'bans';

/** `shadow`: counts and reports the bans it would make, enforces none. */
export type JailMode = 'enforce' | 'shadow';

/** Ban a whole IPv4 prefix once `addresses` distinct addresses in it were banned within `window`. */
export interface SubnetAggregation {
  /** IPv4 prefix length (default 24). */
  prefixV4: number;
  /** Distinct banned addresses of one prefix that ban the prefix. */
  addresses: number;
  /** Window in which those bans count (default: the jail's `timeWindow`). */
  window: number;
}

/** One jail as configured (config file `jails.<name>`, or a `jails` row), resolved. */
export interface JailSpec {
  name: string;
  enabled: boolean;
  /** Pattern names or globs (`sshd-*`); a pattern belongs to the first jail (by name order) that claims it. */
  patterns: string[];
  maxAttempts: number;
  timeWindow: number;
  initialBanTime: number;
  maxBanTime: number;
  escalationFactor: number;
  /** Services the ban applies to (`imap`, `smtp`, `http`...); empty = every service. */
  services: string[];
  weight: JailWeight;
  source: JailSource;
  /** `source: bans` only: the jails whose bans count; empty = every other jail. */
  sourceJails: string[];
  mode: JailMode;
  subnet: SubnetAggregation | null;
  /** Log files (paths or globs) whose lines alone its patterns read; empty = syslog and unclaimed files. */
  logpath: string[];
  /** Where it came from, for error messages and for the API (`config` entries are read-only there). */
  origin: 'config' | 'database' | 'default';
}

/** Scope of a ban in the API and in events: the jail that made it and the services it covers. */
export interface BanScope {
  jail: string;
  /** Empty = every service. */
  services: string[];
  /** True for a shadow jail's would-be ban (reported, never enforced). */
  shadow: boolean;
}
