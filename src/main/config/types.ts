import type { PatternSpec } from '../../shared/patterns/compile.js';
import type { FileSourceSpec } from '../files/types.js';
import type { JailSpec } from '../jails/types.js';
import type { NotifyConfig } from '../notify/types.js';

/**
 * The resolved configuration: the key tree of the reference system (its config files load
 * unchanged) plus edgeban's own keys. Durations are resolved to milliseconds; addresses and CIDRs stay
 * strings as written (validated by the loader).
 */

/** A failure pattern as configured: the matcher's own spec (src/shared/patterns). */
export type PatternConfig = PatternSpec;

export interface SyslogConfig {
  /** `host:port`, IPv6 as `[::1]:514`. */
  address: string;
  /** `udp`, `tcp`, or `both` (also `udp4`/`udp6` for compatibility). */
  protocol: string;
  patterns: PatternConfig[];
  /** CIDRs allowed to send syslog; loopback by default. */
  allowed_sources: string[];
  /** Longest line or datagram accepted (bytes); longer ones are cut and counted. */
  max_line_length: number;
  /** Lines per batch handed to the matcher pool. */
  batch_size: number;
  /** Longest a line waits for its batch to fill (ms). */
  batch_delay: number;
  /** Batches queued for the pool before new ones are shed. */
  max_queued_batches: number;
}

export interface SpoaConfig {
  address: string;
  port: number;
  max_clients: number;
  /** Idle / slow-frame timeout (ms), not an absolute deadline. */
  read_timeout: number;
  enabled: boolean;
  /** Scope of the SET-VAR actions: proc, sess, txn, req, res. */
  var_scope: string;
  /** Also set `ban_reason` (string). */
  set_reason: boolean;
  /** Also set `ban_ttl` (seconds left). */
  set_ttl: boolean;
  /** Largest frame the agent accepts (bytes). */
  max_frame_size: number;
  /** Who may connect (CIDRs); others are closed at once. */
  allowed_sources: string[];
  /** Most connections at once from one address. */
  max_clients_per_source: number;
  /** Longest a new connection may take to complete its HELLO (ms). */
  hello_timeout: number;
}

export interface EnvoyConfig {
  address: string;
  port: number;
  enabled: boolean;
  /** Believe x-forwarded-for / x-real-ip headers in Check requests. */
  trust_headers: boolean;
  /** Proxies whose hops are skipped when reading x-forwarded-for right to left. */
  trusted_proxies: string[];
  /** HTTP status of the denied_response. */
  deny_status: number;
  /** Add `x-fail2ban-status: allowed` to ok_response. */
  allowed_headers: boolean;
  /** Verdict when no valid client address is found: `allow` or `deny`. */
  missing_ip_policy: string;
  /** Who may connect to the ext_authz port (CIDRs). */
  allowed_sources: string[];
  max_connections: number;
  max_connections_per_source: number;
  /** Streams open at once on the port, all connections together. */
  max_open_streams: number;
}

export interface NginxConfig {
  address: string;
  port: number;
  enabled: boolean;
  read_timeout: number;
  write_timeout: number;
  return_json: boolean;
  /** Peers whose forwarding headers are believed (loopback by default). */
  trusted_proxies: string[];
  /** Verdict when no valid client address is found: `allow` or `deny`. */
  missing_ip_policy: string;
  /** Backends nginx's mail proxy is sent to (`ip:port`, empty = protocol not served). */
  mail: { imap: string; pop3: string; smtp: string };
}

export interface BanConfig {
  initial_ban_time: number;
  max_ban_time: number;
  escalation_factor: number;
  max_attempts: number;
  time_window: number;
  cleanup_interval: number;
  max_memory_ttl: number;
  /** Addresses and CIDRs never banned (fail2ban's ignoreip). */
  ignore_ips: string[];
  /** IPv6 failures are counted and banned per this prefix length. */
  ipv6_prefix: number;
  /** Cap on addresses tracked by the engine. */
  max_tracked: number;
  /** Shortest prefixes the API accepts for bans and list entries unless forced. */
  min_prefix_v4: number;
  min_prefix_v6: number;
  /** `shadow`: the whole process reports the bans it would make and enforces none. */
  mode: 'enforce' | 'shadow';
}

export interface DatabaseConfig {
  enabled: boolean;
  driver: string;
  dsn: string;
  refresh_interval: number;
  max_retries: number;
  retry_delay: number;
  /** Longest a log-made ban waits before it is written (ms). */
  flush_interval: number;
  /** Start without the database when it cannot be opened at start (SQLite); else that is fatal. */
  optional: boolean;
  /** How long ended bans stay in `ban_history` (ms); 0 = no history. */
  history_retention: number;
  /** The stop writes the ban state to a file the next start reads before the database. */
  snapshot: boolean;
}

/** Ban sharing between the nodes of one PostgreSQL database. */
export interface FleetConfig {
  enabled: boolean;
  /** Empty: the host name. */
  node: string;
  channel: string;
  /** Signs the messages; empty: the password in database.dsn. */
  secret: string;
  /** Fleet-wide counting: every node's failures per (jail, address) add up. */
  counting: boolean;
  /** How long failures are summed before they go to the other nodes (ms). */
  counting_interval: number;
  /** Most (jail, address) sums one interval sends; the rest are dropped (counted). */
  counting_max_entries: number;
}

/** A HAProxy map of the bans, kept through the runtime API. */
export interface HaproxyMapConfig {
  enabled: boolean;
  /** `unix:/path` or `host:port`: stats sockets or master CLIs. */
  sockets: string[];
  /** The map's file path, as HAProxy names it. */
  map: string;
  write_file: boolean;
  resync_interval: number;
  timeout: number;
  max_pending: number;
}

/** The nftables sink: bans as elements of sets in a table of edgeban's own. */
export interface NftablesConfig {
  enabled: boolean;
  /** Table edgeban creates and owns (nothing else is touched). */
  table: string;
  /** inet (both families), ip (IPv4 sets only) or ip6 (IPv6 sets only). */
  family: string;
  /** The nft binary: a path, or a name looked up on PATH. */
  nft: string;
  /** Also create edgeban's own input chain that acts on members. */
  chain: boolean;
  /** Ports the own chain acts on (TCP and UDP); empty = every port. */
  ports: number[];
  /** What the own chain does to members: drop or reject. */
  action: string;
  /** Longest a change waits before its batch goes out (ms). */
  flush_interval: number;
  /** Changes waiting past this many: the next batch replaces the sets instead. */
  max_pending: number;
  /** How often the sets are compared with the ban table (ms). */
  resync_interval: number;
}

export interface PrometheusConfig {
  enabled: boolean;
  address: string;
  port: number;
  path: string;
}

export interface BasicAuthConfig {
  enabled: boolean;
  username: string;
  password: string;
  users: Record<string, string>;
}

export interface ApiConfig {
  enabled: boolean;
  allowed_ips: string[];
  basic_auth: BasicAuthConfig;
  /** Bearer tokens accepted in `Authorization: Bearer …`. */
  tokens: string[];
  /** Callers that may only read (GET/HEAD): Basic users or token labels. */
  read_only_users: string[];
  rate_limiting: {
    enabled: boolean;
    requests_per_minute: number;
    /** Peers (CIDRs) the rate limit skips; failed-login back-off still applies to them. */
    exempt: string[];
    /** Callers with valid credentials skip the rate limit. */
    exempt_authenticated: boolean;
  };
}

export interface ListEntryConfig {
  ip: string;
  reason: string;
}

export interface Config {
  syslog: SyslogConfig;
  spoa: SpoaConfig;
  envoy: EnvoyConfig;
  nginx: NginxConfig;
  ban: BanConfig;
  database: DatabaseConfig;
  fleet: FleetConfig;
  haproxy_map: HaproxyMapConfig;
  nftables: NftablesConfig;
  prometheus: PrometheusConfig;
  api: ApiConfig;
  workers: { count: number };
  log: { level: string };
  notify: NotifyConfig;
  /** Static permanent bans (addresses or CIDRs). */
  blacklist: ListEntryConfig[];
  /** Static never-ban entries (addresses or CIDRs). */
  whitelist: ListEntryConfig[];
  /** `jails:` resolved (unset numbers from `ban:`), in name order; none = the `ban:` policy only. */
  jails: JailSpec[];
  /** Log files followed beside syslog. */
  files: FileSourceSpec[];
}
