import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { DatabaseConfig } from '../../src/main/config/types.js';
import { createCore } from '../../src/main/core.js';
import { BanEngine } from '../../src/main/engine/index.js';
import type { BanPolicy } from '../../src/main/engine/types.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { SqlStore, type SqlStoreOptions } from '../../src/main/store/sql-store.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { MariaDbServer } from '../helpers/mariadb.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryLogger } from '../ingest/harness.js';

/** A database to run the store against: a fresh one per `fresh()`, plain SQL on the side. */
export interface Backend {
  name: string;
  driver: string;
  /** A new, empty database; returns its DSN. */
  fresh(): Promise<string>;
  /** Plain SQL on `dsn` through the backend's own client (as an operator would type it). */
  exec(dsn: string, text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** The reference system's DDL (reference-system.md §9.2) for this dialect. */
  referenceDdl: string[];
  close(): Promise<void>;
  cluster?: PostgresCluster;
}

export function sqliteBackend(): Backend {
  const dir = tempDir('edgeban-store-');
  let n = 0;
  return {
    name: 'sqlite',
    driver: 'sqlite3',
    async fresh() {
      return join(dir, `db${++n}.db`);
    },
    async exec(dsn, text, params = []) {
      const db = new Database(dsn, { timeout: 5000 });
      try {
        const stmt = db.prepare(text);
        const bound = params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
        if (stmt.reader) return stmt.all(...bound) as Record<string, unknown>[];
        stmt.run(...bound);
        return [];
      } finally {
        db.close();
      }
    },
    referenceDdl: referenceDdl('sqlite'),
    async close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postgresBackend(): Promise<Backend> {
  const cluster = await PostgresCluster.create();
  let n = 0;
  return {
    name: 'postgres',
    driver: 'postgres',
    cluster,
    async fresh() {
      return cluster.createDatabase(`t${++n}`);
    },
    async exec(dsn, text, params = []) {
      const db = new URL(dsn).pathname.slice(1);
      return cluster.query(db, text, params);
    },
    referenceDdl: referenceDdl('postgres'),
    async close() {
      await cluster.destroy();
    },
  };
}

export async function mariadbBackend(): Promise<Backend> {
  const server = await MariaDbServer.create();
  let n = 0;
  return {
    name: 'mariadb',
    driver: 'mysql',
    async fresh() {
      return server.createDatabase(`t${++n}`);
    },
    async exec(dsn, text, params = []) {
      return server.query(new URL(dsn).pathname.slice(1), text, params);
    },
    referenceDdl: referenceDdl('mysql'),
    async close() {
      await server.destroy();
    },
  };
}

/**
 * The reference's `CREATE TABLE IF NOT EXISTS` statements, column for column (§9.2), and its
 * indexes (which never got created on MySQL: multi-statement exec and CREATE INDEX IF NOT EXISTS).
 */
export function referenceDdl(dialect: 'sqlite' | 'postgres' | 'mysql'): string[] {
  const pk =
    dialect === 'sqlite'
      ? 'INTEGER PRIMARY KEY AUTOINCREMENT'
      : dialect === 'postgres'
        ? 'SERIAL PRIMARY KEY'
        : 'INT AUTO_INCREMENT PRIMARY KEY';
  const real = dialect === 'sqlite' ? 'REAL' : 'DECIMAL(10,6)';
  const onUpdate = dialect === 'mysql' ? ' ON UPDATE CURRENT_TIMESTAMP' : '';
  const list = (t: string) => `CREATE TABLE IF NOT EXISTS ${t} (
    id ${pk},
    ip_address VARCHAR(45) NOT NULL UNIQUE,
    reason TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    created_by VARCHAR(255) DEFAULT 'system',
    enabled BOOLEAN NOT NULL DEFAULT TRUE)`;
  const tables = [
    `CREATE TABLE IF NOT EXISTS patterns (
      id ${pk},
      name VARCHAR(255) NOT NULL UNIQUE,
      regex TEXT NOT NULL,
      ip_group INTEGER NOT NULL DEFAULT 1,
      severity INTEGER NOT NULL DEFAULT 1,
      description TEXT,
      enabled BOOLEAN NOT NULL DEFAULT TRUE,
      created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
      updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP${onUpdate})`,
    `CREATE TABLE IF NOT EXISTS ban_config (
      id ${pk},
      name VARCHAR(255) NOT NULL UNIQUE,
      initial_ban_time_seconds INTEGER NOT NULL,
      max_ban_time_seconds INTEGER NOT NULL,
      escalation_factor ${real} NOT NULL,
      max_attempts INTEGER NOT NULL,
      time_window_seconds INTEGER NOT NULL,
      cleanup_interval_seconds INTEGER NOT NULL,
      max_memory_ttl_seconds INTEGER NOT NULL,
      enabled BOOLEAN NOT NULL DEFAULT TRUE,
      created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
      updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP${onUpdate})`,
    list('blacklist'),
    list('whitelist'),
  ];
  const indexes = [
    'CREATE INDEX IF NOT EXISTS idx_patterns_enabled ON patterns(enabled)',
    'CREATE INDEX IF NOT EXISTS idx_ban_config_enabled ON ban_config(enabled)',
    'CREATE INDEX IF NOT EXISTS idx_patterns_name ON patterns(name)',
    'CREATE INDEX IF NOT EXISTS idx_ban_config_name ON ban_config(name)',
    'CREATE INDEX IF NOT EXISTS idx_blacklist_ip ON blacklist(ip_address)',
    'CREATE INDEX IF NOT EXISTS idx_blacklist_enabled ON blacklist(enabled)',
    'CREATE INDEX IF NOT EXISTS idx_whitelist_ip ON whitelist(ip_address)',
    'CREATE INDEX IF NOT EXISTS idx_whitelist_enabled ON whitelist(enabled)',
  ];
  const seeds = [
    // the reference's seed rows (InsertDefaultData), as its docs' SQL would write them
    `INSERT INTO patterns (name, regex, ip_group, severity, description) VALUES
      ('dovecot-auth-failure', 'auth failed.*rip=([0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3})', 1, 1, 'Dovecot authentication failures')`,
    `INSERT INTO ban_config (name, initial_ban_time_seconds, max_ban_time_seconds, escalation_factor, max_attempts,
      time_window_seconds, cleanup_interval_seconds, max_memory_ttl_seconds) VALUES ('default', 300, 86400, 2.0, 5, 600, 60, 259200)`,
  ];
  return [...tables, ...(dialect === 'mysql' ? [] : indexes), ...seeds];
}

export { memoryLogger };

export function dbConfig(driver: string, dsn: string, over: Partial<DatabaseConfig> = {}): DatabaseConfig {
  return {
    ...defaultConfig().database,
    driver,
    dsn,
    refresh_interval: 3_600_000,
    retry_delay: 50,
    max_retries: 1,
    flush_interval: 50,
    ...over,
  };
}

export function defaultPolicy(): BanPolicy {
  return BanEngine.policyFromConfig(defaultConfig().ban);
}

export function makeStore(
  driver: string,
  dsn: string,
  over: Partial<DatabaseConfig> = {},
  extra: Partial<SqlStoreOptions> = {},
): { store: SqlStore; lines: Record<string, unknown>[]; metrics: Metrics } {
  const { log, lines } = memoryLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const store = new SqlStore({
    config: dbConfig(driver, dsn, over),
    log,
    metrics,
    seed: { patterns: builtin as PatternSpec[], policy: defaultPolicy() },
    timeoutMs: 2000,
    ...extra,
  });
  return { store, lines, metrics };
}

/** A ban engine on its own table, with a settable clock. */
export function makeEngine(start = Date.now()) {
  let clock = start;
  const { table, engine } = createCore({ nodeId: 'test-node', now: () => clock });
  const out = new LookupResult();
  return {
    engine,
    table,
    fail: (ip: string, pattern = 'dovecot-auth-failed') => {
      const a = parseIp(ip);
      return engine.recordFailure(a.bytes, a.family, pattern, clock);
    },
    banned: (ip: string) => table.checkString(ip, Math.floor(clock / 1000), out) === Verdict.DENY,
    now: () => clock,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Polls `cond` every 20 ms for at most `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
