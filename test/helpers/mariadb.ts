import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { freePort } from './net.js';
import { findBinary } from './peers.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

/**
 * Skip reason when the MariaDB server is not installed (false = run). MariaDB is optional: CI does
 * not install it, so it is skipped even under EDGEBAN_E2E=require.
 */
export function mariadbMissing(): string | false {
  if (findBinary('mariadbd') && findBinary('mariadb-install-db')) return false;
  return 'MariaDB server not installed (optional peer: apt-get install mariadb-server)';
}

function mysqlAccount(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('mysql:'));
  if (!line) return null;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** A private MariaDB server in a temp folder on a free loopback port, no authentication (tests only). */
export class MariaDbServer {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<MariaDbServer> {
    const dir = tempDir('edgeban-mariadb-');
    const s = new MariaDbServer(dir, await freePort());
    const data = join(dir, 'data');
    mkdirSync(data);
    const acct = mysqlAccount();
    if (acct) {
      chownSync(dir, acct.uid, acct.gid);
      chownSync(data, acct.uid, acct.gid);
    }
    await run(
      findBinary('mariadb-install-db')!,
      [
        '--no-defaults',
        `--datadir=${data}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...(acct ? ['--user=mysql'] : []),
      ],
      { cwd: dir, timeout: 120_000 },
    );
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    const acct = mysqlAccount();
    this.proc = spawn(
      findBinary('mariadbd')!,
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--socket=${join(this.dir, 'sock')}`,
        `--pid-file=${join(this.dir, 'pid')}`,
        `--log-error=${join(this.dir, 'error.log')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--skip-grant-tables',
        '--skip-log-bin',
        '--innodb-flush-log-at-trx-commit=0',
        ...(acct ? ['--user=mysql'] : []),
      ],
      { stdio: 'ignore' },
    );
    const end = Date.now() + 60_000;
    for (;;) {
      try {
        const c = await createConnection({ host: '127.0.0.1', port: this.port, user: 'root' });
        await c.end();
        return;
      } catch (err) {
        if (Date.now() > end || this.proc.exitCode !== null)
          throw new Error(`MariaDB did not start: ${(err as Error).message}\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  async createDatabase(name: string): Promise<string> {
    await this.query('', `CREATE DATABASE \`${name}\``);
    return `mysql://root@127.0.0.1:${this.port}/${name}`;
  }

  async query(db: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const c = await createConnection({
      host: '127.0.0.1',
      port: this.port,
      user: 'root',
      database: db || undefined,
    });
    try {
      const [rows] = await c.query(text, params);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    } finally {
      await c.end();
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }
}
