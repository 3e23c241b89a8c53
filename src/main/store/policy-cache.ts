import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { PatternSet } from '../../shared/patterns/set.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { specOf, validateBanConfig } from './rows.js';
import { Serial } from './serial.js';
import type { PolicySnapshot } from './types.js';

/**
 * The last good copy of a remote database's policy in a file, for a start while the database is
 * down. It names the database it came from (a hash of driver and DSN), so another one's copy is
 * never applied.
 */
export class PolicyCache {
  private readonly saves = new Serial();
  private readonly database: string;

  constructor(
    readonly file: string,
    driver: string,
    dsn: string,
    private readonly log: Logger,
    /** Logs a failure once (a disk that refuses keeps refusing). */
    private readonly reportOnce: (key: string, fields: Record<string, unknown>, msg: string) => void,
  ) {
    this.database = createHash('sha256').update(`${driver}\n${dsn}`).digest('hex').slice(0, 16);
  }

  /** Writes the snapshot (atomically: temp file, then rename), one write at a time. */
  save(p: PolicySnapshot): void {
    const file = this.file;
    const body = JSON.stringify({
      version: 1,
      database: this.database,
      saved_at: new Date().toISOString(),
      policy: p,
    });
    void this.saves.run(async () => {
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      } catch (err) {
        this.reportOnce(
          'cache:write',
          { err: asError(err), file },
          'cannot keep a copy of the database policy on disk',
        );
      }
    });
  }

  /** The copy, when it belongs to this database and still validates; null otherwise. */
  async read(): Promise<PolicySnapshot | null> {
    const file = this.file;
    try {
      const j = JSON.parse(await readFile(file, 'utf8')) as {
        version: number;
        database: string;
        policy: PolicySnapshot;
      };
      if (j.version !== 1 || j.database !== this.database) return null;
      const p = j.policy;
      const enabled = p.patterns.filter((x) => x.enabled);
      if (enabled.length > 0) new PatternSet(0, enabled.map(specOf));
      else p.patterns = [];
      if (p.banConfig) validateBanConfig(p.banConfig);
      // a copy written before jails existed has none
      if (!Array.isArray(p.jails)) p.jails = [];
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: asError(err), file }, 'the cached copy of the database policy is unusable');
      return null;
    }
  }

  /** Resolves once the writes asked for so far are done. */
  idle(): Promise<void> {
    return this.saves.idle();
  }
}
