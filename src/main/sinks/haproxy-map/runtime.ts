import { connect, type Socket } from 'node:net';
import { EdgebanError } from '../../../shared/errors.js';

/** A runtime API socket failed: refused, closed, timed out, or answered nonsense (`E_HAPROXY_CLI`). */
export class RuntimeApiError extends EdgebanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_HAPROXY_CLI', message, options);
  }
}

/** `unix:/path` or `host:port` (IPv6 as `[::1]:9999`), as in `haproxy_map.sockets`. */
export type SocketAddress = { path: string } | { host: string; port: number };

export function parseSocketAddress(s: string): SocketAddress {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (!path.startsWith('/')) throw new RuntimeApiError(`socket ${s}: expected unix:/absolute/path`);
    return { path };
  }
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new RuntimeApiError(`socket ${s}: expected unix:/path or host:port`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * Where the prompt that ends an answer starts, or -1: "> " on a worker's stats socket, "master> "
 * on the master CLI, after a newline (or alone, as the answer to `prompt` itself). Looks at the
 * end only, so a long answer arriving in many chunks costs no rescans.
 */
function promptAt(buf: string): number {
  if (!buf.endsWith('> ')) return -1;
  const i = buf.endsWith('master> ') ? buf.length - 8 : buf.length - 2;
  return i === 0 || buf.charCodeAt(i - 1) === 10 ? i : -1;
}
/** Longest answer kept (the commands sent answer a few lines; `show map` in tests a few MB). */
const MAX_ANSWER = 64 << 20;

/**
 * One connection to HAProxy's runtime API in interactive mode (`prompt`): one command at a time,
 * each answer read up to the next prompt. On the master CLI every command goes to the first
 * worker (`@1`), which is detected at connect time from `show proc`.
 */
export class RuntimeConnection {
  master = false;
  /** Resolves (never rejects) with the reason once the connection is unusable. */
  readonly closed: Promise<Error>;
  private markClosed: (e: Error) => void = () => {};
  private buf = '';
  private waiter: { resolve: (s: string) => void; reject: (e: Error) => void } | null = null;
  private closedErr: Error | null = null;

  private constructor(
    private readonly sock: Socket,
    private readonly timeoutMs: number,
  ) {
    this.closed = new Promise<Error>((r) => {
      this.markClosed = r;
    });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (err) =>
      this.fail(new RuntimeApiError(`runtime API socket: ${err.message}`, { cause: err })),
    );
    sock.on('close', () => this.fail(new RuntimeApiError('runtime API socket closed by HAProxy')));
  }

  static async open(addr: SocketAddress, timeoutMs: number): Promise<RuntimeConnection> {
    const sock =
      'path' in addr ? connect({ path: addr.path }) : connect({ host: addr.host, port: addr.port });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new RuntimeApiError('runtime API connect timed out'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      sock.once('error', (err) => {
        clearTimeout(t);
        reject(new RuntimeApiError(`runtime API connect: ${err.message}`, { cause: err }));
      });
    });
    const c = new RuntimeConnection(sock, timeoutMs);
    try {
      await c.raw('prompt');
      const procs = await c.raw('show proc');
      c.master = procs.startsWith('#<PID>') && procs.includes('master');
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  /**
   * Send one command line (several commands joined by `;`, or a command with a payload) and
   * return the answer without the prompt and the payload's `+ ` continuation marks.
   */
  async command(line: string): Promise<string> {
    if (!this.master) return this.raw(line);
    // the master forwards each `;`-separated command with its own prefix only
    const nl = line.indexOf('\n');
    const head = nl < 0 ? line : line.slice(0, nl);
    const rest = nl < 0 ? '' : line.slice(nl);
    return this.raw(
      head
        .split(';')
        .map((c) => `@1 ${c}`)
        .join(';') + rest,
    );
  }

  close(): void {
    this.sock.destroy();
  }

  private raw(line: string): Promise<string> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (this.waiter)
      return Promise.reject(new RuntimeApiError('runtime API: a command is already in flight'));
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => {
        this.fail(new RuntimeApiError(`runtime API: no answer within ${this.timeoutMs} ms`));
        this.sock.destroy();
      }, this.timeoutMs);
      this.waiter = {
        resolve: (s) => {
          clearTimeout(t);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
      this.sock.write(line.endsWith('\n') ? line : `${line}\n`);
    });
  }

  private onData(d: string): void {
    this.buf += d;
    if (this.buf.length > MAX_ANSWER) {
      this.fail(new RuntimeApiError('runtime API: answer too long'));
      this.sock.destroy();
      return;
    }
    const at = promptAt(this.buf);
    if (at < 0) return;
    const text = this.buf
      .slice(0, at)
      .replace(/^(?:\+ )+/, '')
      .trim();
    this.buf = '';
    const w = this.waiter;
    this.waiter = null;
    w?.resolve(text);
  }

  private fail(err: Error): void {
    if (!this.closedErr) {
      this.closedErr = err;
      this.markClosed(err);
    }
    const w = this.waiter;
    this.waiter = null;
    w?.reject(err);
  }
}
