import { asError } from '../log/logger.js';
import type { AppContext, Service } from '../service.js';
import { besideSqlite } from '../store/state-file.js';
import { COUNTS_FILE, loadCounts, saveCounts } from './counts-file.js';
import type { BanEngine } from './engine.js';

/**
 * The engine as a subsystem: its sweep timers, and its failure counts kept across a restart
 * (read back at start, written at stop, once ingestion has stopped), so a restart does not hand
 * an attacker a fresh allowance. Kept beside the SQLite database, where the bans are; without
 * one (memory only, PostgreSQL, MySQL) counts start afresh, as before.
 */
export function createEngineService(ctx: AppContext, engine: BanEngine): Service {
  const log = ctx.log.child({ subsystem: 'engine' });
  const file = besideSqlite(ctx.config, COUNTS_FILE);
  return {
    name: 'engine',
    start() {
      engine.start();
      if (file === null) return;
      try {
        const n = loadCounts(engine, file);
        if (n > 0) log.info({ counts: n, file }, 'failure counts of the last run restored');
      } catch (err) {
        log.warn({ err: asError(err), file }, 'failure counts of the last run not restored');
      }
    },
    stop() {
      engine.stop();
      if (file === null) return;
      try {
        const n = saveCounts(engine, file);
        if (n > 0) log.info({ counts: n, file }, 'failure counts kept for the next start');
      } catch (err) {
        log.warn({ err: asError(err), file }, 'failure counts not kept');
      }
    },
  };
}
