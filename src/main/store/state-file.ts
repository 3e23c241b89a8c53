import { dirname, join } from 'node:path';
import type { Config } from '../config/types.js';
import { sqlitePath } from './connect.js';

/**
 * Where a small state file of this process (`name`) lives: beside the SQLite database, else in
 * the working folder (a fleet on PostgreSQL keeps per-node state where each node runs).
 */
export function stateFile(config: Config, name: string, cwd = process.cwd()): string {
  return besideSqlite(config, name, cwd) ?? join(cwd, name);
}

/** `name` beside the SQLite database file; null without one (another driver, `:memory:`, off). */
export function besideSqlite(config: Config, name: string, cwd = process.cwd()): string | null {
  const db = config.database;
  if (!db.enabled || (db.driver !== 'sqlite3' && db.driver !== 'sqlite')) return null;
  try {
    const p = sqlitePath(db.dsn, cwd);
    return p === ':memory:' ? null : join(dirname(p), name);
  } catch {
    // an unusable DSN is the store's error to report
    return null;
  }
}
