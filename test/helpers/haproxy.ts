import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
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

  /**
   * Write `files` (name → content) to a temp dir and start `haproxy -db -f haproxy.cfg` there;
   * `bin` picks another HAProxy than the one on PATH (see haproxy3()).
   */
  static async start(
    files: Record<string, string>,
    waitPorts: number[],
    extraArgs: string[] = [],
    bin: string | null = findBinary('haproxy'),
  ): Promise<HaproxyProcess> {
    const dir = tempDir('edgeban-haproxy-');
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
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

/** Where .ci/haproxy3.sh keeps its build (a link to the newest) and why it skipped, if it did. */
export const HAPROXY3_CACHE = process.env.EDGEBAN_CI_CACHE ?? '/var/cache/edgeban-ci';

/** A HAProxy binary and its version, e.g. { bin, version: [3, 0, 11], text: '3.0.11' }. */
export interface HaproxyBinary {
  bin: string;
  version: number[];
  text: string;
}

/** The version `bin -v` reports, or null when it does not run. */
export function haproxyVersion(bin: string): HaproxyBinary | null {
  try {
    const out = execFileSync(bin, ['-v'], { encoding: 'utf8', timeout: 5000 });
    const m = /version (\d+)\.(\d+)\.(\d+)/i.exec(out);
    if (!m) return null;
    const version = [Number(m[1]), Number(m[2]), Number(m[3])];
    return { bin, version, text: version.join('.') };
  } catch {
    return null;
  }
}

/** True when `h` is at least major.minor. */
export function atLeast(h: HaproxyBinary, major: number, minor: number): boolean {
  return h.version[0] > major || (h.version[0] === major && h.version[1] >= minor);
}

/**
 * The HAProxy 3.x to test against: `lts` is the 3.0 that .ci/haproxy3.sh builds from trixie,
 * `latest` the newest Debian has (`.ci/haproxy3.sh sid`, 3.1+). Each is read from its variable
 * (EDGEBAN_HAPROXY3, EDGEBAN_HAPROXY3_LATEST, set by .ci/run), else the cached build's link, else
 * (for `lts`) a `haproxy` on PATH that is already 3.x. Returns the binary, or the reason it is
 * missing (the build script's own reason when it wrote one). A path set in the variable that
 * does not run is an error, not a skip; an empty one is a skip.
 */
export function haproxy3(which: 'lts' | 'latest' = 'lts'): HaproxyBinary | string {
  const name = which === 'lts' ? 'EDGEBAN_HAPROXY3' : 'EDGEBAN_HAPROXY3_LATEST';
  const tag = which === 'lts' ? 'haproxy3' : 'haproxy3-sid';
  const env = process.env[name];
  if (env) {
    const h = haproxyVersion(env);
    if (!h || h.version[0] < 3) throw new Error(`${name}=${env} is not a working HAProxy 3.x`);
    return h;
  }
  const candidates = [join(HAPROXY3_CACHE, tag), which === 'lts' ? findBinary('haproxy') : null];
  for (const bin of candidates) {
    if (!bin || !existsSync(bin)) continue;
    const h = haproxyVersion(bin);
    if (h && h.version[0] >= 3) return h;
  }
  const reasonFile = join(HAPROXY3_CACHE, `${tag}-skip-reason`);
  const why = existsSync(reasonFile)
    ? readFileSync(reasonFile, 'utf8').trim()
    : `run .ci/haproxy3.sh${which === 'lts' ? '' : ' sid'} to build it`;
  return `no HAProxy 3.x (${which}): ${why}`;
}

/** GET / through a HAProxy frontend from `localAddress` (a loopback address as the client). */
export function frontGet(port: number, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Connect to a TCP frontend and report what the backend's banner said (empty: cut). */
export function tcpBanner(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => s.write('a1 CAPABILITY\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\n')) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

/**
 * The shipped examples' system paths (the runtime API socket, the ban map) moved into `dir`; the
 * map file is created empty, as HAProxy refuses to start without it.
 */
export function privatePaths(cfg: string, dir: string): string {
  const map = join(dir, 'edgeban.map');
  if (!existsSync(map)) writeFileSync(map, '');
  return cfg
    .replaceAll('/run/haproxy/admin.sock', join(dir, 'admin.sock'))
    .replaceAll('/etc/haproxy/edgeban.map', map);
}

const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

/**
 * The shipped HAProxy 2.x example (examples/haproxy) on private ports, written into `dir`
 * (edgeban-spoe.conf beside it); returns haproxy.cfg's text.
 */
export function exampleConfig(
  dir: string,
  p: Record<'web' | 'app' | 'agent' | 'imap' | 'smtp' | 'mail', number>,
): string {
  const map: Record<string, number> = {
    '8080': p.web,
    '8081': p.app,
    '12345': p.agent,
    '1143': p.imap,
    '1587': p.smtp,
    '143': p.mail,
    '587': p.mail,
  };
  // "not stalled", not "fast": on a shared 2-core box the example's 100 ms can pass by under
  // any load, so the test allows the agent 1 s before HAProxy fails open
  writeFileSync(
    join(dir, 'edgeban-spoe.conf'),
    readFileSync(join(examples, 'edgeban-spoe.conf'), 'utf8').replaceAll(
      'timeout processing 100ms',
      'timeout processing 1s',
    ),
  );
  const cfg = readFileSync(join(examples, 'haproxy.cfg'), 'utf8')
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', join(dir, 'edgeban-spoe.conf'))
    .replace(/127\.0\.0\.1:(\d+)/g, (m, port: string) => (map[port] ? `127.0.0.1:${map[port]}` : m))
    .replace('dst_port 1587', `dst_port ${p.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
  return privatePaths(cfg, dir);
}

/** The shipped example running against an edge; resolves once its agent health check passed. */
export async function startExampleHaproxy(
  ports: Record<'web' | 'app' | 'agent' | 'imap' | 'smtp' | 'mail', number>,
): Promise<HaproxyProcess> {
  const dir = tempDir('edgeban-hapcfg-');
  const h = await HaproxyProcess.start(
    {
      'haproxy.cfg': exampleConfig(dir, ports),
      'edgeban-spoe.conf': readFileSync(join(dir, 'edgeban-spoe.conf'), 'utf8'),
    },
    [ports.web],
  );
  await h.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
  return h;
}

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

/** The ports of the two-frontend example (HTTP; IMAP and SMTP over TCP) and its peers. */
export interface ServicePorts {
  web: number;
  imap: number;
  smtp: number;
  agent: number;
  app: number;
  banner: number;
}

/**
 * The shipped example `suffix` ('' for 2.x, '-3.0', '-3.1') with its two frontends, each SPOE
 * message naming its service, on private ports and paths (its SPOE file written into `dir`).
 */
export function serviceExample(dir: string, suffix: string, ports: ServicePorts): Record<string, string> {
  const spoe = join(dir, 'edgeban-spoe.conf');
  const map: Record<string, number> = {
    '8080': ports.web,
    '1143': ports.imap,
    '1587': ports.smtp,
    '8081': ports.app,
    '143': ports.banner,
    '587': ports.banner,
    '12345': ports.agent,
  };
  const cfg = privatePaths(readFileSync(join(EXAMPLES, `haproxy${suffix}.cfg`), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', spoe)
    .replace(/127\.0\.0\.1:(\d+)/g, (m, p: string) => (map[p] ? `127.0.0.1:${map[p]}` : m))
    .replace('dst_port 1587', `dst_port ${ports.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
  // a shared 2-core box can take longer than the example's 100 ms; failing open would hide a ban
  const spoeText = readFileSync(join(EXAMPLES, `edgeban-spoe${suffix}.conf`), 'utf8').replaceAll(
    'timeout processing 100ms',
    'timeout processing 2s',
  );
  assert.match(spoeText, /service=str\(http\)/, 'the HTTP message names its service');
  assert.match(spoeText, /service=so_name/, 'the TCP message names its service');
  assert.match(cfg, /name imap/);
  assert.match(cfg, /name smtp/);
  writeFileSync(spoe, spoeText);
  return { 'haproxy.cfg': cfg, 'edgeban-spoe.conf': spoeText };
}
