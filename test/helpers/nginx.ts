import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitForPort } from './haproxy.js';
import { findBinary } from './peers.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);
export const MAIL_MODULE = '/usr/lib/nginx/modules/ngx_mail_module.so';

/** Top of a private nginx.conf: everything in `dir`, foreground, one worker. */
export function nginxMain(dir: string, opts: { mail?: boolean } = {}): string {
  for (const d of ['tmp', 'logs']) mkdirSync(join(dir, d), { recursive: true });
  return [
    opts.mail ? `load_module ${MAIL_MODULE};` : '',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/logs/error.log info;`,
    'events { worker_connections 1024; }',
    '',
  ].join('\n');
}

/** `http { … }` preamble with temp paths inside `dir` (nginx would use /var/lib/nginx). */
export function httpTemps(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${dir}/tmp/${t};`)
    .join('\n');
}

/** `nginx -t` on a config file; resolves with the output, rejects on a failed test. */
export async function nginxTest(dir: string, conf: string): Promise<string> {
  const bin = findBinary('nginx');
  if (!bin) throw new Error('nginx not installed');
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const r = await run(bin, ['-t', '-p', dir, '-c', file]);
  return r.stdout + r.stderr;
}

/** A private nginx (`daemon off`), stopped by its PID. */
export class NginxProcess {
  log = '';
  private constructor(
    readonly dir: string,
    readonly proc: ChildProcess,
  ) {
    proc.stdout?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
  }

  static tempDir(): string {
    return tempDir('edgeban-nginx-');
  }

  static async start(dir: string, conf: string, waitPorts: number[]): Promise<NginxProcess> {
    const bin = findBinary('nginx');
    if (!bin) throw new Error('nginx not installed');
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, conf);
    const proc = spawn(bin, ['-p', dir, '-c', file, '-g', 'daemon off;'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const n = new NginxProcess(dir, proc);
    for (const port of waitPorts) await waitForPort(port, 5000, () => proc.exitCode !== null);
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${n.log}`);
    return n;
  }

  errorLog(): string {
    const f = join(this.dir, 'logs', 'error.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGQUIT');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
