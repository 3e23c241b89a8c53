import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './net.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

/** `/usr/lib/postgresql/<newest>/bin`, where Debian puts initdb and pg_ctl, or null. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

/**
 * Skip reason when PostgreSQL's server binaries are missing (false = run), the same contract as
 * peerMissing: with EDGEBAN_E2E=require a missing server is a failure.
 */
export function postgresMissing(): string | false {
  if (postgresBinDir()) return false;
  const reason = 'missing real peer: PostgreSQL server (apt-get install postgresql, or run .ci/run)';
  if (process.env.EDGEBAN_E2E === 'require') throw new Error(`EDGEBAN_E2E=require but ${reason}`);
  return reason;
}

/** Uid/gid of the `postgres` account (initdb refuses to run as root), or null when not root. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no postgres account to run the server as');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * A private PostgreSQL cluster for one test file: initdb in a temp folder, one server on a free
 * loopback port (socket in the same folder), trust authentication for `postgres`. As root the
 * server runs as the `postgres` account (initdb and postgres refuse root). `stop()`/`start()`
 * take it down and up again on the same port, for outage tests.
 */
export class PostgresCluster {
  readonly dir: string;
  readonly data: string;
  readonly port: number;
  private readonly bin: string;
  private readonly as: { uid: number; gid: number } | null;
  running = false;

  private constructor(dir: string, port: number, bin: string) {
    this.dir = dir;
    this.data = join(dir, 'data');
    this.port = port;
    this.bin = bin;
    this.as = runAs();
  }

  static async create(): Promise<PostgresCluster> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
    const dir = tempDir('edgeban-pg-');
    const c = new PostgresCluster(dir, await freePort(), bin);
    mkdirSync(c.data, { mode: 0o700 });
    if (c.as) {
      chownSync(dir, c.as.uid, c.as.gid);
      chownSync(c.data, c.as.uid, c.as.gid);
    }
    await c.exec('initdb', ['-D', c.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await c.start();
    return c;
  }

  private exec(tool: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    const path = join(this.bin, tool);
    const opts = { cwd: this.dir, timeout: 60_000, maxBuffer: 8 << 20 };
    // runuser(1) would do as well; setting uid/gid directly needs no extra binary
    return run(path, args, this.as ? { ...opts, uid: this.as.uid, gid: this.as.gid } : opts);
  }

  async start(): Promise<void> {
    const opts = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      "-c listen_addresses='127.0.0.1'",
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=50',
    ].join(' ');
    await this.exec('pg_ctl', [
      '-D',
      this.data,
      '-o',
      opts,
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.running = true;
  }

  /** Fast shutdown: open connections are cut, as when a database server goes away. */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.exec('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Creates a database (fresh name per call) and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    await this.query('postgres', `CREATE DATABASE "${name}"`);
    return this.dsn(name);
  }

  dsn(db: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}?sslmode=disable`;
  }

  /** One statement on `db` through a short-lived client. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    db: string,
    text: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    const c = new pg.Client({ connectionString: this.dsn(db) });
    await c.connect();
    try {
      return (await c.query<R>(text, params)).rows;
    } finally {
      await c.end();
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }
}
