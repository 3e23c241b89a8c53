import type { InvalidAddressError } from '../../shared/errors.js';
import { canonicalIp, parseCidr } from '../../shared/ip/parse.js';
import {
  compilePattern,
  MAX_DATEPATTERN,
  MAX_DATEPATTERN_CHARS,
  MAX_IGNOREREGEX,
  type PatternSpec,
} from '../../shared/patterns/compile.js';
import { checkFileSources } from '../files/config.js';
import { checkWebhooks } from '../notify/config.js';
import { parseDuration } from './duration.js';

/**
 * The configuration schema: one entry per leaf key, declaring its type and constraints. The
 * loader validates every value through it, so adding a key is adding one line here (and its
 * default in defaults.ts).
 */
export type ValueKind =
  | 'bool'
  | 'int'
  | 'number'
  | 'string'
  | 'duration'
  | 'stringList'
  | 'portList'
  | 'cidrList'
  | 'patterns'
  | 'userMap'
  | 'listEntries'
  | 'webhooks'
  | 'jails'
  | 'fileSources';

export interface KeySpec {
  kind: ValueKind;
  min?: number;
  max?: number;
  /** Strictly greater than. */
  gt?: number;
  oneOf?: string[];
  /** Extra format check on strings. */
  format?: 'hostport' | 'host' | 'path' | 'backend' | 'identifier' | 'socket' | 'file' | 'nftname';
  /** Masked by check-config. */
  secret?: boolean;
  doc: string;
}

const port = { kind: 'int', min: 1, max: 65535 } as const;
const positive = { kind: 'duration', gt: 0 } as const;

export const SCHEMA: Record<string, KeySpec> = {
  'syslog.address': {
    kind: 'string',
    format: 'hostport',
    doc: 'host:port of the syslog receivers ([::1]:514 for IPv6)',
  },
  'syslog.protocol': {
    kind: 'string',
    oneOf: ['udp', 'tcp', 'both', 'udp4', 'udp6', 'tcp4', 'tcp6'],
    doc: 'udp, tcp or both',
  },
  'syslog.patterns': { kind: 'patterns', doc: 'failure patterns; none = the built-in presets' },
  'syslog.allowed_sources': { kind: 'cidrList', doc: 'who may send syslog (CIDRs)' },
  'syslog.max_line_length': {
    kind: 'int',
    min: 512,
    max: 1 << 20,
    doc: 'longest line or datagram accepted (bytes)',
  },
  'syslog.batch_size': {
    kind: 'int',
    min: 1,
    max: 65536,
    doc: 'lines per batch handed to the matcher workers',
  },
  'syslog.batch_delay': { kind: 'duration', min: 0, max: 1000, doc: 'longest a line waits for its batch' },
  'syslog.max_queued_batches': { kind: 'int', min: 1, doc: 'batches queued before new ones are shed' },
  'spoa.address': { kind: 'string', format: 'host', doc: 'SPOA listen address' },
  'spoa.port': { ...port, doc: 'SPOA listen port' },
  'spoa.max_clients': { kind: 'int', min: 1, doc: 'most HAProxy connections at once' },
  'spoa.read_timeout': { ...positive, doc: 'idle / incomplete-frame timeout' },
  'spoa.enabled': { kind: 'bool', doc: 'serve HAProxy (SPOP)' },
  'spoa.var_scope': {
    kind: 'string',
    oneOf: ['proc', 'sess', 'txn', 'req', 'res'],
    doc: 'scope of the variables set in HAProxy',
  },
  'spoa.set_reason': { kind: 'bool', doc: 'also set ban_reason' },
  'spoa.set_ttl': { kind: 'bool', doc: 'also set ban_ttl (seconds left, -1 = permanent)' },
  'spoa.max_frame_size': { kind: 'int', min: 256, max: 16 << 20, doc: 'largest SPOP frame accepted (bytes)' },
  'spoa.allowed_sources': { kind: 'cidrList', doc: 'who may connect to the SPOA (CIDRs)' },
  'spoa.max_clients_per_source': { kind: 'int', min: 1, doc: 'most connections at once from one address' },
  'spoa.hello_timeout': { ...positive, doc: 'longest a new connection may take to send its HELLO' },
  'envoy.address': { kind: 'string', format: 'host', doc: 'gRPC ext_authz listen address' },
  'envoy.port': { ...port, doc: 'gRPC ext_authz listen port' },
  'envoy.enabled': { kind: 'bool', doc: 'serve Envoy (ext_authz)' },
  'envoy.trust_headers': { kind: 'bool', doc: 'believe x-forwarded-for / x-real-ip in Check requests' },
  'envoy.trusted_proxies': { kind: 'cidrList', doc: 'hops skipped in x-forwarded-for' },
  'envoy.deny_status': { kind: 'int', min: 200, max: 599, doc: 'HTTP status of denied responses' },
  'envoy.allowed_headers': { kind: 'bool', doc: 'add x-fail2ban-status: allowed to allowed requests' },
  'envoy.missing_ip_policy': {
    kind: 'string',
    oneOf: ['allow', 'deny'],
    doc: 'verdict without a usable address',
  },
  'envoy.allowed_sources': { kind: 'cidrList', doc: 'who may connect to the ext_authz port (CIDRs)' },
  'envoy.max_connections': { kind: 'int', min: 1, doc: 'most ext_authz connections at once' },
  'envoy.max_connections_per_source': {
    kind: 'int',
    min: 1,
    doc: 'most ext_authz connections at once from one address',
  },
  'envoy.max_open_streams': {
    kind: 'int',
    min: 1,
    doc: 'most HTTP/2 streams open at once on the ext_authz port, all connections together',
  },
  'nginx.address': { kind: 'string', format: 'host', doc: 'HTTP listen address (auth_request and API)' },
  'nginx.port': { ...port, doc: 'HTTP listen port' },
  'nginx.enabled': { kind: 'bool', doc: 'serve Nginx auth_request and the REST API' },
  'nginx.read_timeout': { ...positive, doc: 'HTTP read timeout' },
  'nginx.write_timeout': { ...positive, doc: 'HTTP write timeout' },
  'nginx.return_json': { kind: 'bool', doc: 'JSON body on denied /auth' },
  'nginx.trusted_proxies': { kind: 'cidrList', doc: 'peers whose forwarding headers are believed' },
  'nginx.missing_ip_policy': {
    kind: 'string',
    oneOf: ['allow', 'deny'],
    doc: 'verdict without a usable address',
  },
  'nginx.mail.imap': { kind: 'string', format: 'backend', doc: 'IMAP backend for nginx mail (ip:port)' },
  'nginx.mail.pop3': { kind: 'string', format: 'backend', doc: 'POP3 backend for nginx mail (ip:port)' },
  'nginx.mail.smtp': { kind: 'string', format: 'backend', doc: 'SMTP backend for nginx mail (ip:port)' },
  'ban.initial_ban_time': { ...positive, doc: 'first ban length' },
  'ban.max_ban_time': { ...positive, doc: 'longest ban' },
  'ban.escalation_factor': { kind: 'number', gt: 1, doc: 'each ban lasts this much longer than the last' },
  'ban.max_attempts': { kind: 'int', min: 1, doc: 'failures within time_window that ban' },
  'ban.time_window': { ...positive, doc: 'window in which failures are counted' },
  'ban.cleanup_interval': { ...positive, doc: 'how often expired bans are swept' },
  'ban.max_memory_ttl': { ...positive, doc: 'offences forgotten after this long without one' },
  'ban.ignore_ips': { kind: 'cidrList', doc: 'never banned (like fail2ban ignoreip)' },
  'ban.ipv6_prefix': {
    kind: 'int',
    min: 32,
    max: 128,
    doc: 'IPv6 failures are counted and banned per prefix',
  },
  'ban.max_tracked': { kind: 'int', min: 1000, doc: 'addresses tracked at most' },
  'ban.min_prefix_v4': {
    kind: 'int',
    min: 0,
    max: 32,
    doc: 'shortest IPv4 prefix the API bans, blacklists or whitelists without force',
  },
  'ban.min_prefix_v6': {
    kind: 'int',
    min: 0,
    max: 128,
    doc: 'shortest IPv6 prefix the API bans, blacklists or whitelists without force',
  },
  'ban.mode': {
    kind: 'string',
    oneOf: ['enforce', 'shadow'],
    doc: 'shadow: every jail (the default one too) counts and reports the bans it would make, enforces none',
  },
  'database.enabled': { kind: 'bool', doc: 'keep bans and policy in SQL' },
  'database.driver': {
    kind: 'string',
    oneOf: ['sqlite3', 'sqlite', 'postgres', 'mysql'],
    doc: 'sqlite3, postgres or mysql',
  },
  'database.dsn': { kind: 'string', secret: true, doc: 'file (sqlite3) or connection URL' },
  'database.refresh_interval': { ...positive, doc: 'policy re-read interval' },
  'database.max_retries': { kind: 'int', min: 0, doc: 'retries per reload' },
  'database.retry_delay': { kind: 'duration', min: 0, doc: 'first delay between retries' },
  'database.flush_interval': {
    kind: 'duration',
    gt: 0,
    max: 60_000,
    doc: 'longest a log-made ban waits to be written',
  },
  'database.history_retention': {
    kind: 'duration',
    min: 0,
    doc: 'how long ended bans stay in ban_history; 0 = keep no history',
  },
  'database.snapshot': {
    kind: 'bool',
    doc: 'on stop, write the bans to a file beside the database; the next start puts them in force before reading the database, which then confirms them',
  },
  'database.optional': {
    kind: 'bool',
    doc: 'start even when the SQLite file cannot be opened (bans in memory only); false = fatal',
  },
  'fleet.enabled': {
    kind: 'bool',
    doc: 'share bans with the other nodes on the same PostgreSQL database (LISTEN/NOTIFY)',
  },
  'fleet.node': {
    kind: 'string',
    doc: "this node's name in the fleet and in the bans table; empty = the host name",
  },
  'fleet.secret': {
    kind: 'string',
    secret: true,
    doc: 'key that signs fleet messages; empty = the password of database.dsn (none: fleet off)',
  },
  'fleet.channel': {
    kind: 'string',
    format: 'identifier',
    doc: 'PostgreSQL notification channel the fleet shares',
  },
  'fleet.counting': {
    kind: 'bool',
    doc: "add every node's failures per (jail, address) up, so N nodes do not give N times the allowance",
  },
  'fleet.counting_interval': {
    kind: 'duration',
    min: 10,
    max: 10_000,
    doc: 'how long failures are summed before they go to the other nodes',
  },
  'fleet.counting_max_entries': {
    kind: 'int',
    min: 1,
    max: 100_000,
    doc: '(jail, address) sums sent per interval at most; the rest are dropped and counted (docs/fleet.md)',
  },
  'haproxy_map.enabled': {
    kind: 'bool',
    doc: "keep a HAProxy map of the bans through HAProxy's runtime API (bans hold while edgeban is down)",
  },
  'haproxy_map.sockets': {
    kind: 'stringList',
    format: 'socket',
    doc: 'runtime API sockets (stats socket or master CLI): unix:/path or host:port, one per HAProxy',
  },
  'haproxy_map.map': {
    kind: 'string',
    format: 'file',
    doc: 'the map as HAProxy names it: its file path, also rewritten on every change for reloads',
  },
  'haproxy_map.write_file': {
    kind: 'bool',
    doc: 'rewrite the map file (false when HAProxy runs on another host)',
  },
  'haproxy_map.resync_interval': {
    kind: 'duration',
    min: 1000,
    doc: 'how often the map is checked against the ban table (restores, list reloads)',
  },
  'haproxy_map.timeout': { ...positive, doc: 'longest wait for HAProxy to connect or answer' },
  'haproxy_map.max_pending': {
    kind: 'int',
    min: 1,
    doc: 'changes queued per socket; past it the map is replaced as a whole',
  },
  'nftables.enabled': { kind: 'bool', doc: 'keep the bans in nftables sets of a table of its own' },
  'nftables.table': { kind: 'string', format: 'nftname', doc: 'the nftables table edgeban creates and owns' },
  'nftables.family': {
    kind: 'string',
    oneOf: ['inet', 'ip', 'ip6'],
    doc: "the table's family: inet (IPv4 and IPv6), ip or ip6",
  },
  'nftables.nft': { kind: 'string', doc: 'the nft binary (a path, or a name on PATH)' },
  'nftables.chain': { kind: 'bool', doc: "also create edgeban's own input chain acting on the sets" },
  'nftables.ports': { kind: 'portList', doc: 'ports that chain acts on (TCP and UDP); empty = every port' },
  'nftables.action': { kind: 'string', oneOf: ['drop', 'reject'], doc: 'what that chain does to members' },
  'nftables.flush_interval': {
    kind: 'duration',
    gt: 0,
    max: 60_000,
    doc: 'longest a change waits before its batch goes to nft',
  },
  'nftables.max_pending': {
    kind: 'int',
    min: 1,
    doc: 'changes waiting past this many: the sets are replaced as a whole instead',
  },
  'nftables.resync_interval': { ...positive, doc: 'how often the sets are compared with the ban table' },
  'prometheus.enabled': { kind: 'bool', doc: 'serve metrics' },
  'prometheus.address': { kind: 'string', format: 'host', doc: 'metrics listen address' },
  'prometheus.port': { ...port, doc: 'metrics listen port' },
  'prometheus.path': { kind: 'string', format: 'path', doc: 'metrics path' },
  'api.enabled': { kind: 'bool', doc: 'serve the REST API (false = no /api routes at all)' },
  'api.allowed_ips': { kind: 'cidrList', doc: 'peers allowed to use the API' },
  'api.basic_auth.enabled': { kind: 'bool', doc: 'require Basic auth' },
  'api.basic_auth.username': { kind: 'string', doc: 'Basic auth user' },
  'api.basic_auth.password': { kind: 'string', secret: true, doc: 'Basic auth password' },
  'api.basic_auth.users': { kind: 'userMap', secret: true, doc: 'more users: name → password' },
  'api.tokens': { kind: 'stringList', secret: true, doc: 'bearer tokens' },
  'api.read_only_users': {
    kind: 'stringList',
    doc: 'Basic users (or token:<sha256 prefix> labels) that may read the API and the console, not change bans',
  },
  'api.rate_limiting.enabled': { kind: 'bool', doc: 'limit requests per peer' },
  'api.rate_limiting.requests_per_minute': { kind: 'int', min: 1, doc: 'requests per minute per peer' },
  'api.rate_limiting.exempt': { kind: 'cidrList', doc: 'peers the rate limit does not apply to' },
  'api.rate_limiting.exempt_authenticated': {
    kind: 'bool',
    doc: 'callers with valid credentials are not rate-limited',
  },
  'workers.count': {
    kind: 'int',
    min: 0,
    max: 256,
    doc: 'matcher threads; 0 = the CPUs this process may use',
  },
  'log.level': {
    kind: 'string',
    oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    doc: 'log level',
  },
  'notify.webhooks': {
    kind: 'webhooks',
    secret: true,
    doc: 'webhooks told of bans, unbans, quarantines and database outages ({url, events, jails, secret, format})',
  },
  'notify.queue_size': {
    kind: 'int',
    min: 1,
    max: 1_000_000,
    doc: 'notifications held per webhook while it is slow or down (the oldest are dropped past it)',
  },
  'notify.batch_size': { kind: 'int', min: 1, max: 10_000, doc: 'most notifications in one POST' },
  'notify.batch_delay': {
    kind: 'duration',
    min: 0,
    max: 60_000,
    doc: 'longest a notification waits for others to join its POST',
  },
  'notify.timeout': { ...positive, doc: 'longest one webhook POST may take' },
  blacklist: { kind: 'listEntries', doc: 'static permanent bans (addresses or CIDRs)' },
  whitelist: { kind: 'listEntries', doc: 'static never-ban entries (addresses or CIDRs)' },
  jails: {
    kind: 'jails',
    doc: 'per-service policies: name → {patterns, max_attempts, time_window, initial_ban_time, max_ban_time, escalation_factor, enabled, services, weight, source, source_jails, mode, subnet} (see docs/jails.md); none = the ban: policy for every pattern',
  },
  files: {
    kind: 'fileSources',
    doc: 'log files followed beside syslog ({path (glob allowed), format: syslog|plain, tag, from: end|start})',
  },
};

/** A problem found in a value: what was expected. */
export type Check =
  | { ok: true; value: unknown }
  /** `index`: the list entry at fault, when the value is a list. */
  | { ok: false; expected: string; index?: number };

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export { describe as describeValue };

function bounds(spec: KeySpec, n: number, unit = ''): string | null {
  if (spec.gt !== undefined && !(n > spec.gt)) return `a value greater than ${spec.gt}${unit}`;
  if (spec.min !== undefined && n < spec.min) return `a value of at least ${spec.min}${unit}`;
  if (spec.max !== undefined && n > spec.max) return `a value of at most ${spec.max}${unit}`;
  return null;
}

function hostOk(h: string): boolean {
  if (h === '' || h === '*') return false;
  if (h.includes(':')) {
    try {
      parseCidr(h.replace(/^\[|\]$/g, ''));
      return true;
    } catch {
      return false;
    }
  }
  return /^[A-Za-z0-9.-]+$/.test(h);
}

/** A runtime API socket: `unix:/path` or `host:port`. */
function socketOk(s: string): boolean {
  if (s.startsWith('unix:')) return /^unix:\/\S+$/.test(s);
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
  return m !== null && hostOk(m[1]) && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}

/** Validate and convert one value against its spec. `fromEnv` values are strings to be parsed. */
export function checkValue(spec: KeySpec, raw: unknown, fromEnv = false): Check {
  let v = raw;
  switch (spec.kind) {
    case 'bool': {
      if (fromEnv && typeof v === 'string') {
        const s = v.toLowerCase();
        v = ['true', '1', 'yes', 'on'].includes(s)
          ? true
          : ['false', '0', 'no', 'off'].includes(s)
            ? false
            : v;
      }
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, expected: 'true or false' };
    }
    case 'int':
    case 'number': {
      if (fromEnv && typeof v === 'string' && v.trim() !== '') v = Number(v);
      if (typeof v !== 'number' || !Number.isFinite(v))
        return { ok: false, expected: spec.kind === 'int' ? 'a whole number' : 'a number' };
      if (spec.kind === 'int' && !Number.isInteger(v)) return { ok: false, expected: 'a whole number' };
      const b = bounds(spec, v);
      return b ? { ok: false, expected: b } : { ok: true, value: v };
    }
    case 'duration': {
      const ms = parseDuration(v);
      if (ms === null)
        return { ok: false, expected: 'a duration such as 30s, 5m, 1h30m (a bare number is seconds)' };
      if (ms < 0) return { ok: false, expected: 'a duration that is not negative' };
      const b = bounds(spec, ms, ' ms');
      return b ? { ok: false, expected: b } : { ok: true, value: ms };
    }
    case 'string': {
      if (typeof v === 'number' && !spec.oneOf) v = String(v);
      if (typeof v !== 'string') return { ok: false, expected: 'a string' };
      const s = spec.oneOf ? v.toLowerCase() : v;
      if (spec.oneOf && !spec.oneOf.includes(s))
        return { ok: false, expected: `one of ${spec.oneOf.join(', ')}` };
      if (spec.format === 'host' && !hostOk(s)) return { ok: false, expected: 'an IP address or host name' };
      if (spec.format === 'path' && !s.startsWith('/'))
        return { ok: false, expected: 'a path starting with /' };
      if (spec.format === 'file' && !/^\/[^\s;#]*$/.test(s))
        return { ok: false, expected: 'an absolute path without spaces, ; or #' };
      if (spec.format === 'backend' && s !== '') {
        // nginx's mail proxy wants an address in Auth-Server, not a name
        const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s);
        if (!m || canonicalIp(m[1]) === null || Number(m[2]) < 1 || Number(m[2]) > 65535)
          return { ok: false, expected: 'an IP address and port (10.0.0.5:143, [2001:db8::5]:143) or empty' };
      }
      if (spec.format === 'nftname' && !/^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(s))
        return { ok: false, expected: 'an nftables name (letters, digits, _; at most 32)' };
      if (spec.format === 'identifier' && !/^[a-z_][a-z0-9_]{0,62}$/.test(s))
        return { ok: false, expected: 'a lower-case SQL identifier (letters, digits, _; at most 63)' };
      if (spec.format === 'hostport') {
        const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
        if (!m || !hostOk(m[1]) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
          return { ok: false, expected: 'host:port (IPv6 in brackets: [::1]:514)' };
        }
      }
      return { ok: true, value: s };
    }
    case 'stringList':
    case 'cidrList': {
      if (fromEnv && typeof v === 'string')
        v = v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '');
      if (typeof v === 'string') v = [v];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        return { ok: false, expected: 'a list of strings' };
      if (spec.format === 'socket') {
        const xs = v as string[];
        for (let i = 0; i < xs.length; i++) {
          if (!socketOk(xs[i]))
            return {
              ok: false,
              expected: 'unix:/absolute/path or host:port (IPv6 in brackets)',
              index: Array.isArray(raw) ? i : undefined,
            };
        }
      }
      if (spec.kind === 'cidrList') {
        const xs = v as string[];
        for (let i = 0; i < xs.length; i++) {
          try {
            parseCidr(xs[i]);
          } catch (err) {
            return {
              ok: false,
              expected: `addresses or CIDRs (${(err as InvalidAddressError).message})`,
              index: Array.isArray(raw) ? i : undefined,
            };
          }
        }
      }
      return { ok: true, value: v };
    }
    case 'portList': {
      if (fromEnv && typeof v === 'string')
        v = v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
          .map(Number);
      if (typeof v === 'number') v = [v];
      if (v === null) v = [];
      if (!Array.isArray(v)) return { ok: false, expected: 'a list of ports (1..65535)' };
      const xs = v as unknown[];
      for (let i = 0; i < xs.length; i++) {
        const n = xs[i];
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
          return {
            ok: false,
            expected: 'ports (whole numbers 1..65535)',
            index: Array.isArray(raw) ? i : undefined,
          };
      }
      return { ok: true, value: [...new Set(xs as number[])] };
    }
    case 'userMap': {
      if (fromEnv && typeof v === 'string') {
        const m: Record<string, string> = {};
        for (const pair of v.split(',')) {
          const i = pair.indexOf(':');
          if (i <= 0) return { ok: false, expected: 'user:password pairs separated by commas' };
          m[pair.slice(0, i).trim()] = pair.slice(i + 1);
        }
        v = m;
      }
      if (v === null) return { ok: true, value: {} };
      if (
        typeof v !== 'object' ||
        Array.isArray(v) ||
        Object.values(v as object).some((x) => typeof x !== 'string')
      ) {
        return { ok: false, expected: 'a mapping of user name to password' };
      }
      return { ok: true, value: v };
    }
    case 'listEntries': {
      if (v === null) return { ok: true, value: [] };
      if (fromEnv && typeof v === 'string')
        v = v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '');
      if (!Array.isArray(v))
        return { ok: false, expected: 'a list of addresses/CIDRs or {ip, reason} entries' };
      const out: { ip: string; reason: string }[] = [];
      const at = Array.isArray(raw);
      for (let index = 0; index < v.length; index++) {
        const e: unknown = v[index];
        const ip =
          typeof e === 'string'
            ? e
            : typeof e === 'object' && e !== null
              ? (e as Record<string, unknown>).ip
              : undefined;
        if (typeof ip !== 'string')
          return {
            ok: false,
            expected: 'entries that are an address/CIDR or {ip, reason}',
            index: at ? index : undefined,
          };
        try {
          parseCidr(ip);
        } catch (err) {
          return {
            ok: false,
            expected: `addresses or CIDRs (${(err as Error).message})`,
            index: at ? index : undefined,
          };
        }
        const reason =
          typeof e === 'object' && e !== null ? (e as Record<string, unknown>).reason : undefined;
        out.push({ ip, reason: typeof reason === 'string' ? reason : '' });
      }
      return { ok: true, value: out };
    }
    case 'webhooks':
      return checkWebhooks(v);
    case 'fileSources':
      return checkFileSources(v);
    case 'patterns':
    case 'jails':
      return { ok: true, value: v }; // validated field by field by the loader (errors per entry)
  }
}

export const PATTERN_FIELDS = ['name', 'regex', 'ip_group', 'severity', 'description', 'enabled', 'raw'];
/**
 * Accepted too, not advertised in messages: `backtracking: true` lets a pattern use lookaround
 * and backreferences (imported fail2ban filters) under the matcher's time budget only;
 * `success: true` makes it a successful login line, which resets its jail's count (docs/jails.md);
 * `ignoreregex: [...]` (fail2ban's): lines it matches that one of these also matches do not count;
 * `datepattern: [...]` (fail2ban's): the date cut out of a line without a syslog header first.
 */
const EXPERT_FIELDS = ['backtracking', 'success', 'ignoreregex', 'datepattern'];

/** Problems of one pattern entry (each a message naming the field). */
export function checkPattern(p: unknown): {
  value?: Record<string, unknown>;
  problems: { field: string; expected: string; found: string; hint?: string }[];
} {
  const problems: { field: string; expected: string; found: string; hint?: string }[] = [];
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    return {
      problems: [{ field: '', expected: 'a mapping with name, regex, ip_group', found: describe(p) }],
    };
  }
  // no prototype: a `__proto__` or `constructor` field is a field like any other
  const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(p)) o[k.toLowerCase()] = v;
  const name = o.name;
  if (typeof name !== 'string' || name.trim() === '')
    problems.push({ field: 'name', expected: 'a non-empty string', found: describe(name) });
  const regex = o.regex;
  if (typeof regex !== 'string' || regex === '')
    problems.push({ field: 'regex', expected: 'a non-empty regex', found: describe(regex) });
  const group = o.ip_group ?? 1;
  if (
    !(typeof group === 'string' && group !== '') &&
    !(typeof group === 'number' && Number.isInteger(group) && group >= 0)
  ) {
    problems.push({ field: 'ip_group', expected: 'a capture group number or name', found: describe(group) });
  }
  const sev = o.severity ?? 1;
  if (typeof sev !== 'number' || !Number.isInteger(sev) || sev < 0 || sev > 10)
    problems.push({ field: 'severity', expected: 'a whole number 0..10', found: describe(sev) });
  for (const k of Object.keys(o))
    if (!PATTERN_FIELDS.includes(k) && !EXPERT_FIELDS.includes(k))
      problems.push({
        field: k,
        expected: `one of the fields ${PATTERN_FIELDS.join(', ')}`,
        found: 'an unknown field',
        hint: closestField(k),
      });
  for (const f of ['enabled', 'raw', 'backtracking', 'success'])
    if (o[f] !== undefined && typeof o[f] !== 'boolean')
      problems.push({ field: f, expected: 'true or false', found: describe(o[f]) });
  const ign = o.ignoreregex;
  if (
    ign !== undefined &&
    !(
      Array.isArray(ign) &&
      ign.length <= MAX_IGNOREREGEX &&
      ign.every((x) => typeof x === 'string' && x !== '')
    )
  )
    problems.push({
      field: 'ignoreregex',
      expected: `a list of at most ${MAX_IGNOREREGEX} non-empty regexes`,
      found: describe(ign),
    });
  const dp = o.datepattern;
  if (
    dp !== undefined &&
    !(
      Array.isArray(dp) &&
      dp.length <= MAX_DATEPATTERN &&
      dp.every((x) => typeof x === 'string' && x.trim() !== '' && x.length <= MAX_DATEPATTERN_CHARS)
    )
  )
    problems.push({
      field: 'datepattern',
      expected: `a list of at most ${MAX_DATEPATTERN} date templates ({DEFAULT}, %Y-%m-%d %H:%M:%S, …)`,
      found: describe(dp),
    });
  if (o.description !== undefined && typeof o.description !== 'string')
    problems.push({ field: 'description', expected: 'a string', found: describe(o.description) });
  const spec: PatternSpec = {
    name: String(name ?? ''),
    regex: String(regex ?? ''),
    ip_group: group as number | string,
    severity: typeof sev === 'number' ? sev : 1,
    description: typeof o.description === 'string' ? o.description : '',
    enabled: o.enabled !== false,
    raw: o.raw === true,
    ...(o.backtracking === true ? { backtracking: true } : {}),
    ...(o.success === true ? { success: true } : {}),
    ...(Array.isArray(ign) && ign.length > 0 ? { ignoreregex: ign as string[] } : {}),
    ...(Array.isArray(dp) && dp.length > 0 ? { datepattern: dp as string[] } : {}),
  };
  if (problems.length === 0) {
    try {
      // exactly what the matcher will do: translate, compile, check linear-time and ip_group
      compilePattern(spec, 0);
    } catch (err) {
      const message = (err as Error).message;
      problems.push({
        field: /\bignoreregex\[\d+\]/.test(message)
          ? 'ignoreregex'
          : /\bdatepattern\b/.test(message)
            ? 'datepattern'
            : 'regex',
        expected: 'a regex the matcher can use',
        found: message,
      });
    }
  }
  return { value: spec as unknown as Record<string, unknown>, problems };
}

/** The pattern field an unknown one is probably a typo of (one or two letters off). */
function closestField(k: string): string | undefined {
  if (k.length > 64) return undefined;
  let best: string | undefined;
  let bestD = 3;
  for (const f of PATTERN_FIELDS) {
    const d = editDistance(k, f);
    if (d < bestD) {
      bestD = d;
      best = f;
    }
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
