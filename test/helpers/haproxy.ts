import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findBinary } from './peers.js';
import { tempDir } from './tmp.js';

/** A private HAProxy in the foreground (`-db`), config in a temp dir, stopped by its PID. */
export class HaproxyProcess {
  readonly dir: string;
  readonly proc: ChildProcess;
  log = '';

  private constructor(dir: string, proc: ChildProcess) {
    this.dir = dir;
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
  }

  /** Write `files` (name → content) to a temp dir and start `haproxy -db -f haproxy.cfg` there. */
  static async start(
    files: Record<string, string>,
    waitPorts: number[],
    extraArgs: string[] = [],
  ): Promise<HaproxyProcess> {
    const dir = tempDir('edgeban-haproxy-');
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const bin = findBinary('haproxy');
    if (!bin) throw new Error('haproxy not installed');
    const proc = spawn(bin, ['-db', ...extraArgs, '-f', 'haproxy.cfg'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const h = new HaproxyProcess(dir, proc);
    for (const port of waitPorts) await waitForPort(port, 5000, () => h.proc.exitCode !== null);
    if (proc.exitCode !== null) throw new Error(`haproxy exited: ${h.log}`);
    return h;
  }

  /** Wait until the log contains `text` (or time out). */
  async waitForLog(text: string | RegExp, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (typeof text === 'string' ? this.log.includes(text) : text.test(this.log)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`haproxy log never showed ${String(text)}:\n${this.log}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Resolve once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(
  port: number,
  ms: number,
  abort: () => boolean = () => false,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !abort()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listening on 127.0.0.1:${port}`);
}
