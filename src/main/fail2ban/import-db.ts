import { EdgebanError } from '../../shared/errors.js';
import { effectivePatterns } from '../../shared/patterns/presets/index.js';
import type { Config } from '../config/types.js';
import { BanEngine } from '../engine/index.js';
import { createLogger } from '../log/logger.js';
import { rowOfSpec } from '../store/rows.js';
import { SqlStore } from '../store/sql-store.js';
import type { Fail2banImport } from './import.js';
import { translateJail } from './import-jails.js';

/** What `--to-db` wrote, and what it could not. */
export interface DbImportResult {
  patternsCreated: number;
  patternsUpdated: number;
  jailsCreated: number;
  jailsUpdated: number;
  /** Lines for the report: what stayed out, and why. */
  notes: string[];
}

/**
 * Writes an import's patterns and jails into the configured database (created, or updated when
 * the name is there), each change validated as the API's are. Patterns that need the backtracking
 * engine keep that mark (`patterns.backtracking`): they run under the matcher's time budget.
 */
export async function importToDatabase(imp: Fail2banImport, config: Config): Promise<DbImportResult> {
  if (!config.database.enabled)
    throw new EdgebanError('E_USAGE', '--to-db needs database.enabled: true in the configuration');
  const log = createLogger('silent');
  const store = new SqlStore({
    config: { ...config.database, optional: false },
    log,
    seed: {
      patterns: [...effectivePatterns(config.syslog.patterns)],
      policy: BanEngine.policyFromConfig(config.ban),
    },
    cacheFile: null,
    journalFile: null,
  });
  const out: DbImportResult = {
    patternsCreated: 0,
    patternsUpdated: 0,
    jailsCreated: 0,
    jailsUpdated: 0,
    notes: [],
  };
  await store.start();
  try {
    if (!store.isConnected)
      throw new EdgebanError(
        'E_DB_UNAVAILABLE',
        `the database cannot be reached: ${store.databaseStatus().last_error ?? 'not connected'}`,
      );
    const existing = new Map((await store.listPatterns()).map((p) => [p.name, p.id]));
    for (const x of imp.jails) {
      const written = new Set<string>();
      for (const spec of x.patterns) {
        const row = rowOfSpec(spec);
        const id = existing.get(spec.name);
        try {
          if (id === undefined) {
            const made = await store.createPattern(row);
            existing.set(made.name, made.id);
            out.patternsCreated++;
          } else {
            await store.updatePattern(id, row);
            out.patternsUpdated++;
          }
          written.add(spec.name);
        } catch (err) {
          if (!(err instanceof EdgebanError) || err.code === 'E_DB_UNAVAILABLE') throw err;
          out.notes.push(`pattern ${spec.name}: not written: ${err.message}`);
        }
      }
      if (x.error !== null || written.size === 0) continue;
      const t = translateJail(x);
      // the jail names the patterns that made it into the table
      // a database jail reads no file (only the config file says which files are read)
      const jail = { ...t.jail, patterns: t.jail.patterns.filter((p) => written.has(p)), logpath: [] };
      if (t.jail.logpath.length > 0)
        out.notes.push(
          `jail ${jail.name}: logpath ${t.jail.logpath.join(' ')} not in the database: send those lines to edgeban's syslog, or name the files in the config file (files:, or the jail's logpath)`,
        );
      const had = (await store.listJails()).some((j) => j.name === jail.name);
      if (had) {
        const { name: _n, ...fields } = jail;
        // durations as the API takes them: numbers are seconds
        const secs = (ms: number | null) => (ms === null ? null : ms / 1000);
        await store.updateJail(jail.name, {
          ...fields,
          time_window: secs(jail.time_window),
          initial_ban_time: secs(jail.initial_ban_time),
          max_ban_time: secs(jail.max_ban_time),
          subnet: null,
        });
        out.jailsUpdated++;
      } else {
        await store.createJail(jail);
        out.jailsCreated++;
      }
    }
  } finally {
    await store.stop();
  }
  return out;
}
