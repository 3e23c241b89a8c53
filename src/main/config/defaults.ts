import type { Config } from './types.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

/** Loopback and the private ranges: where the proxies that ask edgeban run. */
const LOCAL_AND_PRIVATE = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/**
 * Embedded defaults: the reference system's defaults where it has one (existing configs keep
 * their meaning), edgeban's own elsewhere (SQLite on, metrics on, loopback-only syslog and API).
 * Returns a fresh object each call so callers may mutate it.
 */
export function defaultConfig(): Config {
  return {
    syslog: {
      address: '127.0.0.1:514',
      protocol: 'udp',
      patterns: [],
      allowed_sources: ['127.0.0.0/8', '::1/128'],
      max_line_length: 8192,
      batch_size: 512,
      batch_delay: 5,
      max_queued_batches: 256,
    },
    spoa: {
      address: '0.0.0.0',
      port: 12345,
      max_clients: 1024,
      read_timeout: 30 * S,
      enabled: true,
      var_scope: 'sess',
      set_reason: false,
      set_ttl: false,
      max_frame_size: 65536,
      // HAProxy runs next to edgeban or on the same private network; the internet may not connect
      allowed_sources: [...LOCAL_AND_PRIVATE],
      // one HAProxy opens up to its server maxconn (100 in examples/haproxy), twice during a reload
      max_clients_per_source: 256,
      hello_timeout: 2 * S,
    },
    envoy: {
      address: '0.0.0.0',
      port: 9001,
      enabled: true,
      trust_headers: false,
      trusted_proxies: ['127.0.0.0/8', '::1/128'],
      deny_status: 403,
      allowed_headers: true,
      missing_ip_policy: 'allow',
      // Envoy runs next to edgeban or on the same private network, as HAProxy does
      allowed_sources: [...LOCAL_AND_PRIVATE],
      // Envoy holds a few connections per worker thread; reloads and hot restarts double them
      max_connections: 1024,
      max_connections_per_source: 256,
      max_open_streams: 20_000,
    },
    nginx: {
      address: '0.0.0.0',
      port: 8888,
      enabled: true,
      read_timeout: 10 * S,
      write_timeout: 10 * S,
      return_json: false,
      trusted_proxies: ['127.0.0.0/8', '::1/128'],
      missing_ip_policy: 'allow',
      mail: { imap: '', pop3: '', smtp: '' },
    },
    ban: {
      initial_ban_time: 5 * M,
      max_ban_time: 24 * H,
      escalation_factor: 2.0,
      max_attempts: 5,
      time_window: 10 * M,
      cleanup_interval: 1 * M,
      max_memory_ttl: 72 * H,
      ignore_ips: ['127.0.0.0/8', '::1/128'],
      ipv6_prefix: 64,
      max_tracked: 1_000_000,
      min_prefix_v4: 8,
      min_prefix_v6: 32,
      mode: 'enforce',
    },
    database: {
      enabled: true,
      driver: 'sqlite3',
      dsn: './fail2ban.db',
      refresh_interval: 5 * M,
      max_retries: 3,
      retry_delay: 5 * S,
      flush_interval: 1 * S,
      optional: false,
      history_retention: 720 * H,
      snapshot: true,
    },
    fleet: {
      enabled: true,
      node: '',
      channel: 'edgeban_fleet',
      secret: '',
      counting: true,
      counting_interval: 250,
      counting_max_entries: 2000,
    },
    haproxy_map: {
      enabled: false,
      sockets: [],
      map: '/etc/haproxy/edgeban.map',
      write_file: true,
      resync_interval: 1 * M,
      timeout: 5 * S,
      max_pending: 100_000,
    },
    nftables: {
      enabled: false,
      table: 'edgeban',
      family: 'inet',
      nft: 'nft',
      chain: false,
      // sshd and the mail ports (SMTP, submission, POP3, IMAP, with TLS): what a host without a
      // proxy in front serves and edgeban's presets detect
      ports: [22, 25, 110, 143, 465, 587, 993, 995],
      action: 'drop',
      flush_interval: 100,
      max_pending: 50_000,
      resync_interval: 1 * M,
    },
    prometheus: {
      enabled: true,
      address: '0.0.0.0',
      port: 2112,
      path: '/metrics',
    },
    api: {
      enabled: true,
      allowed_ips: ['127.0.0.1/32', '::1/128'],
      basic_auth: { enabled: false, username: 'admin', password: '', users: {} },
      tokens: [],
      read_only_users: [],
      rate_limiting: {
        enabled: true,
        requests_per_minute: 60,
        exempt: ['127.0.0.0/8', '::1/128'],
        exempt_authenticated: true,
      },
    },
    workers: { count: 0 },
    log: { level: 'info' },
    notify: { webhooks: [], queue_size: 10_000, batch_size: 100, batch_delay: 1 * S, timeout: 5 * S },
    blacklist: [],
    whitelist: [],
    jails: [],
    files: [],
  };
}
