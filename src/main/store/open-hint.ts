import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgebanError } from '../../shared/errors.js';
import { sqlitePath } from './connect.js';

/** The configured database cannot be opened at start and `database.optional` is false (`E_DB_OPEN`). */
export class DatabaseOpenError extends EdgebanError {
  constructor(message: string) {
    super('E_DB_OPEN', message);
  }
}

function writable(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function owner(p: string): string {
  try {
    const s = statSync(p);
    return `owned by uid ${s.uid}, mode ${(s.mode & 0o777).toString(8)}`;
  } catch {
    return 'not there';
  }
}

/**
 * Why a SQLite file would not open, for a person: the path, who edgeban runs as, whether the file
 * or its folder is writable, and what to change. A root-owned bind mount on the image's /data is
 * the usual case.
 */
export function sqliteOpenProblem(dsn: string, cause: string | undefined, cwd = process.cwd()): string {
  let path: string;
  try {
    path = sqlitePath(dsn, cwd);
  } catch (err) {
    return `database.dsn: ${(err as Error).message}`;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  const gid = typeof process.getgid === 'function' ? process.getgid() : -1;
  const who = uid >= 0 ? `uid ${uid}, gid ${gid}` : 'this user';
  const dir = dirname(path);
  const u = uid >= 0 ? String(uid) : 'USER';
  let why: string;
  let fix: string;
  if (existsSync(path) && !writable(path)) {
    why = `the file is not writable by ${who} (${owner(path)})`;
    fix = `chown ${u} ${path}`;
  } else if (existsSync(dir) && !isFolder(dir)) {
    why = `${dir} is not a folder (a file is in the way)`;
    fix = `move that file, or create the database under an existing folder writable for ${who}`;
  } else if (!existsSync(dir)) {
    why = `the folder ${dir} does not exist`;
    fix = `create it, writable for ${who}`;
  } else if (!writable(dir)) {
    why = `the folder ${dir} is not writable by ${who} (${owner(dir)}); SQLite creates the file and its -wal/-shm files there`;
    fix = `chown -R ${u} ${dir} (in a container: a named volume, or chown the bind-mounted folder on the host)`;
  } else {
    why = `edgeban runs as ${who}`;
    fix = 'check the file (is it a SQLite database?)';
  }
  return (
    `cannot open the SQLite database ${path} (${cause ?? 'unknown error'}): ${why}. Fix: ${fix}, ` +
    'or point database.dsn (FAIL2BAN_DATABASE_DSN) at a writable path; to run with bans in memory ' +
    'only, set database.optional: true (FAIL2BAN_DATABASE_OPTIONAL=true) or database.enabled: false'
  );
}
