import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../config/types.js';
import { decodeSnapshot, type EngineSnapshot } from '../engine/snapshot.js';
import type { BanEngineApi } from '../engine/types.js';
import { asError, type Logger } from '../log/logger.js';
import { dialectOf, sqlitePath } from './connect.js';
import { besideSqlite, stateFile } from './state-file.js';

/** The ban state the last stop wrote, beside the SQLite database (else in the working folder). */
export const STATE_SNAPSHOT_FILE = 'edgeban-state.snapshot';

/**
 * The largest snapshot a start reads: a quarter of the memory the process may have (a million
 * bans and offences are ~70 MB), never past what one Buffer holds. A larger file is not read
 * into memory at start; the database restores instead.
 */
export function snapshotReadLimit(): number {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const mem = constrained !== undefined && constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.min(Math.floor(mem / 4), 2 ** 31 - 1);
}

/**
 * The file's bytes if it is a regular file within `limit`; a reason otherwise. Opened without
 * blocking and without following a link, and sized on the open file: a FIFO or a device put at
 * the path cannot hang or flood the start.
 */
export function readSnapshotBytes(
  file: string,
  limit: number,
): Buffer | { refused: string; regular: boolean } {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { refused: 'not a regular file', regular: false };
    if (st.size > limit)
      return { refused: `${st.size} bytes, past the ${limit} a start reads`, regular: true };
    const bytes = Buffer.allocUnsafe(st.size);
    let at = 0;
    while (at < st.size) {
      const n = readSync(fd, bytes, at, st.size - at, at);
      if (n === 0) break;
      at += n;
    }
    // a file cut short while read is decoded as it is, and its checksum refuses it
    return at === st.size ? bytes : bytes.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

type SnapshotEngine = Pick<BanEngineApi, 'snapshotState' | 'loadSnapshot'>;

/**
 * Which database a snapshot belongs to: the SQLite file's path, a hash of any other DSN (its
 * password stays out of the file). A snapshot of another database is not loaded.
 */
export function databaseIdentity(cfg: Config['database'], cwd = process.cwd()): string {
  if (dialectOf(cfg.driver) === 'sqlite') {
    try {
      return `sqlite:${sqlitePath(cfg.dsn, cwd)}`;
    } catch {
      // an unusable DSN is the store's error to report
    }
  }
  return `${cfg.driver}:${createHash('sha256').update(cfg.dsn).digest('hex').slice(0, 32)}`;
}

/**
 * The stop writes the engine's temporary bans and offence memory to one file; the next start
 * reads it before the database (bans in force at once) and removes it, so a crash later on does
 * not bring back a state older than the database's. The database's own restore then confirms
 * every row or takes it out (engine dropUnconfirmed).
 */
export class StateSnapshotFile {
  readonly file: string;
  private readonly identity: string;

  constructor(
    config: Config,
    private readonly log: Logger,
    cwd = process.cwd(),
    private readonly readLimit = snapshotReadLimit(),
  ) {
    this.file = resolve(cwd, stateFile(config, STATE_SNAPSHOT_FILE, cwd));
    this.identity = databaseIdentity(config.database, cwd);
  }

  /** The file for `config`; null when there is nothing to keep across a restart (`:memory:`, off). */
  static for(config: Config, log: Logger, cwd = process.cwd()): StateSnapshotFile | null {
    const db = config.database;
    if (!db.enabled || !db.snapshot) return null;
    if (dialectOf(db.driver) === 'sqlite' && besideSqlite(config, STATE_SNAPSHOT_FILE, cwd) === null)
      return null;
    return new StateSnapshotFile(config, log, cwd);
  }

  /**
   * Loads and removes the snapshot; null when there is none or it cannot be used (logged).
   * `current` asks the database's state fingerprint now (while the columns load): `unchanged`
   * says whether it equals the one the stop took, i.e. the snapshot is the database's state.
   */
  load(
    engine: SnapshotEngine,
    current: () => Promise<string | null>,
  ): { unchanged: Promise<boolean> } | null {
    const t0 = performance.now();
    let bytes: Buffer;
    try {
      const read = readSnapshotBytes(this.file, this.readLimit);
      if (!Buffer.isBuffer(read)) {
        // a regular file is a stale state once the database has restored: removed like a used
        // one; anything else at the path is not a file this process wrote, and left alone
        if (read.regular) this.remove();
        this.log.warn(
          { file: this.file, reason: read.refused },
          'ban state snapshot not read; restoring from the database',
        );
        return null;
      }
      bytes = read;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn(
          { err: asError(err), file: this.file },
          'ban state snapshot not readable; restoring from the database',
        );
      return null;
    }
    let snap: EngineSnapshot;
    try {
      snap = decodeSnapshot(bytes);
    } catch (err) {
      // a corrupt file would fail the same way at every start
      this.remove();
      this.log.warn(
        { err: asError(err), file: this.file },
        'ban state snapshot unusable; restoring from the database',
      );
      return null;
    }
    if (snap.meta.database !== this.identity) {
      // left in place: it is that database's
      this.log.warn(
        { file: this.file, database: snap.meta.database },
        'ban state snapshot belongs to another database; restoring from this one',
      );
      return null;
    }
    this.remove();
    const want = snap.meta.digest;
    // on the database's own thread or server, while this one loads the columns
    const unchanged =
      want === null
        ? Promise.resolve(false)
        : current().then(
            (d) => d === want,
            () => false,
          );
    const n = engine.loadSnapshot(snap);
    this.log.info(
      {
        bans: n.bans,
        offences: n.offences,
        ms: Math.round(performance.now() - t0),
        written_at: new Date(snap.meta.writtenAt).toISOString(),
        file: this.file,
      },
      'persisted bans in force from the last stop’s snapshot',
    );
    return { unchanged };
  }

  /** Writes the engine's state (a temporary file renamed over the old one: never half a file). */
  write(engine: SnapshotEngine, digest: string | null): void {
    const t0 = performance.now();
    const tmp = `${this.file}.tmp`;
    try {
      const bytes = engine.snapshotState(this.identity, digest);
      writeFileSync(tmp, bytes, { mode: 0o600 });
      renameSync(tmp, this.file);
      this.log.info(
        {
          bytes: bytes.length,
          ms: Math.round(performance.now() - t0),
          database_digest: digest !== null,
          file: this.file,
        },
        'ban state snapshot written for the next start',
      );
    } catch (err) {
      rmSync(tmp, { force: true });
      this.log.warn(
        { err: asError(err), file: this.file },
        'ban state snapshot not written; the next start restores from the database',
      );
    }
  }

  private remove(): void {
    try {
      rmSync(this.file, { force: true });
    } catch (err) {
      this.log.warn({ err: asError(err), file: this.file }, 'ban state snapshot not removed after use');
    }
  }
}
