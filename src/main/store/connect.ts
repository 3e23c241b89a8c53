import { isAbsolute, resolve } from 'node:path';
import { type CompiledQuery, Kysely, MysqlDialect, PostgresDialect } from 'kysely';
import type { Pool as MysqlPool } from 'mysql2';
import type pg from 'pg';
import { EdgebanError } from '../../shared/errors.js';
import { mysqlModule, pgModule } from './drivers.js';
import type { Database } from './schema.js';
import { type BulkReader, type ColumnarResult, WorkerSqliteDialect } from './sqlite-dialect.js';

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

/** A database configuration edgeban cannot use (`E_DB_CONFIG`): unknown driver, unparsable DSN. */
export class DatabaseConfigError extends EdgebanError {
  constructor(message: string) {
    super('E_DB_CONFIG', message);
  }
}

export interface Connection {
  db: Kysely<Database>;
  dialect: DialectName;
  /** Open connections right now (fail2ban_database_connections_active). */
  active(): number;
  close(): Promise<void>;
  /** SQLite only: a compiled SELECT's rows column by column (bulk reads across the thread boundary). */
  columns?: (q: CompiledQuery) => Promise<ColumnarResult>;
  /** SQLite only: a second connection on its own thread for one bulk read (close it after). */
  openReader?: () => Promise<BulkReader>;
}

export interface ConnectOptions {
  /** Longest a connection attempt (and a statement) may take. */
  timeoutMs?: number;
  /** Folder a relative SQLite path is resolved against (the working folder by default). */
  cwd?: string;
  /** Told about errors of idle pooled connections (they must not crash the process). */
  onIdleError?: (err: Error) => void;
}

export function dialectOf(driver: string): DialectName {
  switch (driver) {
    case 'sqlite3':
    case 'sqlite':
      return 'sqlite';
    case 'postgres':
    case 'postgresql':
    case 'pg':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    default:
      throw new DatabaseConfigError(
        `database.driver: unknown driver ${JSON.stringify(driver)} (sqlite3, postgres or mysql)`,
      );
  }
}

/** The SQLite file of a DSN: `./fail2ban.db`, `file:x.db?cache=shared`, `sqlite:///abs/x.db`, `:memory:`. */
export function sqlitePath(dsn: string, cwd = process.cwd()): string {
  let p = dsn.trim();
  if (p.startsWith('sqlite://')) p = p.slice('sqlite://'.length);
  else if (p.startsWith('sqlite3://')) p = p.slice('sqlite3://'.length);
  else if (p.startsWith('file:')) p = p.slice('file:'.length);
  const q = p.indexOf('?');
  if (q >= 0) p = p.slice(0, q);
  if (p === '') throw new DatabaseConfigError('database.dsn: empty SQLite path');
  if (p === ':memory:') return p;
  return isAbsolute(p) ? p : resolve(cwd, p);
}

/**
 * PostgreSQL settings from a URL (`postgres://u:p@h:5432/db?sslmode=disable`) or lib/pq's
 * `key=value` form (`host=h port=5432 user=u password=p dbname=db sslmode=disable`).
 */
export function postgresConfig(dsn: string): pg.PoolConfig {
  const s = dsn.trim();
  if (/^postgres(ql)?:\/\//.test(s)) {
    const u = new URL(s);
    const cfg: pg.PoolConfig = {
      host: decodeURIComponent(u.hostname) || undefined,
      port: u.port ? Number(u.port) : undefined,
      user: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
    };
    const host = u.searchParams.get('host');
    if (host) cfg.host = host; // unix socket folder
    applySslMode(cfg, u.searchParams.get('sslmode'));
    return cfg;
  }
  const cfg: pg.PoolConfig = {};
  const re = /(\w+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/g;
  let m: RegExpExecArray | null = re.exec(s);
  if (m === null)
    throw new DatabaseConfigError('database.dsn: expected a postgres:// URL or key=value pairs');
  while (m !== null) {
    const v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    switch (m[1]) {
      case 'host':
        cfg.host = v;
        break;
      case 'port':
        cfg.port = Number(v);
        break;
      case 'user':
        cfg.user = v;
        break;
      case 'password':
        cfg.password = v;
        break;
      case 'dbname':
        cfg.database = v;
        break;
      case 'sslmode':
        applySslMode(cfg, v);
        break;
      default:
        break;
    }
    m = re.exec(s);
  }
  return cfg;
}

function applySslMode(cfg: pg.PoolConfig, mode: string | null): void {
  if (!mode || mode === 'disable') return;
  cfg.ssl =
    mode === 'verify-full' || mode === 'verify-ca'
      ? { rejectUnauthorized: true }
      : { rejectUnauthorized: false };
}

/**
 * MySQL settings from a URL (`mysql://u:p@h:3306/db`) or Go's driver form, as the reference
 * documents it (`user:password@tcp(localhost:3306)/fail2ban?parseTime=true`).
 */
export function mysqlConfig(dsn: string): {
  host?: string;
  port?: number;
  socketPath?: string;
  user?: string;
  password?: string;
  database?: string;
} {
  const s = dsn.trim();
  if (/^(mysql|mariadb):\/\//.test(s)) {
    const u = new URL(s);
    return {
      host: u.hostname || undefined,
      port: u.port ? Number(u.port) : undefined,
      user: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
    };
  }
  const m = /^(?:([^:@/]*)(?::([^@]*))?@)?(?:(tcp|unix)\(([^)]*)\))?\/([^?]*)(?:\?.*)?$/.exec(s);
  if (!m)
    throw new DatabaseConfigError('database.dsn: expected mysql://… or user:password@tcp(host:port)/db');
  const out: ReturnType<typeof mysqlConfig> = {
    user: m[1] || undefined,
    password: m[2] || undefined,
    database: m[5] || undefined,
  };
  if (m[3] === 'unix') out.socketPath = m[4];
  else if (m[4]) {
    const i = m[4].lastIndexOf(':');
    if (i > 0 && !m[4].endsWith(']')) {
      out.host = m[4].slice(0, i).replace(/^\[|\]$/g, '');
      out.port = Number(m[4].slice(i + 1));
    } else out.host = m[4].replace(/^\[|\]$/g, '');
  }
  return out;
}

/** Timestamps without time zone are UTC (edgeban writes them so); int8 fits a JS number here (ms). */
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 1114) return (v: string) => new Date(`${v.replace(' ', 'T')}Z`);
    if (oid === 20) return (v: string) => Number(v);
    return pgModule().types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Opens the database of `database.driver` / `database.dsn` (lazily: the first query connects). */
export function openDatabase(driver: string, dsn: string, opts: ConnectOptions = {}): Connection {
  const dialect = dialectOf(driver);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (dialect === 'sqlite') {
    const path = sqlitePath(dsn, opts.cwd);
    let open = true;
    const sqlite = new WorkerSqliteDialect({ path, busyTimeoutMs: timeoutMs });
    const db = new Kysely<Database>({ dialect: sqlite });
    return {
      db,
      dialect,
      columns: (q) => sqlite.columns(q),
      openReader: () => sqlite.openReader(),
      active: () => (open ? 1 : 0),
      close: async () => {
        open = false;
        await db.destroy();
      },
    };
  }
  if (dialect === 'postgres') {
    const pool = new (pgModule().Pool)({
      ...postgresConfig(dsn),
      max: 4,
      connectionTimeoutMillis: timeoutMs,
      idleTimeoutMillis: 30_000,
      query_timeout: timeoutMs * 3,
      application_name: 'edgeban',
      types: pgTypes,
    });
    // an idle client whose server went away emits 'error': without a listener the process dies
    pool.on('error', (err) => opts.onIdleError?.(err));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect, active: () => pool.totalCount, close: () => db.destroy() };
  }
  const pool: MysqlPool = mysqlModule().createPool({
    ...mysqlConfig(dsn),
    connectionLimit: 4,
    connectTimeout: timeoutMs,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
  });
  pool.on('connection', (c) => c.on('error', (err) => opts.onIdleError?.(err)));
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  const internal = pool as unknown as { _allConnections?: { length: number } };
  return { db, dialect, active: () => internal._allConnections?.length ?? 0, close: () => db.destroy() };
}
