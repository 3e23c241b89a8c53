import {
  type ClientHttp2Session,
  createServer,
  type Http2Server,
  type Http2Session,
  constants as h2,
  connect as h2connect,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { asError, type Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import type { EnvoyAdmission } from './admission.js';
import {
  GRPC_INTERNAL,
  GRPC_INVALID_ARGUMENT,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_UNAVAILABLE,
  GRPC_UNIMPLEMENTED,
} from './grpc-status.js';

/**
 * The public HTTP/2 listener of the ext_authz service. `Authorization/Check` — the one call on
 * the request path — is answered right here from the stream: one gRPC message in, one out, no
 * framework objects per call (grpc-js costs ~2× the CPU of the whole answer). Every other method
 * (health, reflection) is relayed untouched to the grpc-js server on a private unix socket, so
 * those keep a complete gRPC implementation.
 */

/** Answers one Check: the response message bytes, or a gRPC error. */
export type CheckAnswer = (message: Buffer) => Buffer | { code: number; message: string };

export interface FrontOptions {
  checkPath: string;
  answer: CheckAnswer;
  /** The private grpc-js server (`/path/to.sock`). */
  backendSocket: string;
  /** Starts that server if it is not running yet; resolves once it listens. */
  backendReady: () => Promise<void>;
  log: Logger;
  /** Largest request message accepted (bytes), as grpc.max_receive_message_length. */
  maxMessage: number;
  maxConcurrentStreams: number;
  /** Request bytes buffered by all unfinished Check streams of one connection. */
  maxSessionBuffered?: number;
  /** Request bytes buffered by all unfinished Check streams of the process. */
  maxProcessBuffered?: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  /** Sources, connection and open-stream limits (unlimited without). */
  admission?: EnvoyAdmission;
}

const OK_HEADERS = { [h2.HTTP2_HEADER_STATUS]: 200, [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };
const RESPOND_OPTS = { waitForTrailers: true };
const WATCH_PATH = '/grpc.health.v1.Health/Watch';
/** Concurrent Watch streams relayed, all clients together: below the backend's stream allowance. */
const MAX_WATCHES = 900;
/** Hop-by-hop and pseudo headers a relay must not copy. */
const NOT_RELAYED = new Set([':status', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

export class GrpcFront {
  readonly server: Http2Server;
  private readonly o: FrontOptions;
  private readonly sessions = new Set<Http2Session>();
  /** Long-lived streams (Watch) get their own session to the backend, so they never use up the
   *  concurrent-stream allowance the unary calls (health Check) need. */
  private backend: ClientHttp2Session | null = null;
  private watchBackend: ClientHttp2Session | null = null;
  private watches = 0;
  /** backendReady() has resolved once: relays go straight on from then. */
  private backendUp = false;
  private readonly throttle: LogThrottle;
  /** Request bytes held by unfinished Check streams, process-wide and per session. */
  private buffered = 0;
  private readonly sessionBuffered = new WeakMap<Http2Session, number>();
  private readonly maxSessionBuffered: number;
  private readonly maxProcessBuffered: number;
  /** Errors caught on a stream's respond/write path (the stream is closed, the process goes on). */
  streamErrors = 0;

  /** Request bytes held now by unfinished Check streams, all connections together. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get backendSocket(): string {
    return this.o.backendSocket;
  }

  constructor(o: FrontOptions) {
    this.o = o;
    this.throttle = new LogThrottle(o.log);
    this.maxSessionBuffered = o.maxSessionBuffered ?? 16 * 1024 * 1024;
    this.maxProcessBuffered = o.maxProcessBuffered ?? 64 * 1024 * 1024;
    this.server = createServer({
      settings: { maxConcurrentStreams: o.maxConcurrentStreams },
      maxSessionMemory: 64,
    });
    this.server.on('stream', (stream, headers) => {
      try {
        if (!this.streamAdmitted(stream)) return;
        this.onStream(stream, headers);
      } catch (err) {
        this.streamFailed(stream, err);
      }
    });
    this.server.prependListener('connection', (socket: Socket) => this.admitSocket(socket));
    this.server.on('session', (s) => this.track(s));
    // a peer that breaks HTTP/2 loses its own session; nobody else notices
    this.server.on('sessionError', (err) => o.log.debug({ err }, 'ext_authz HTTP/2 session error'));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** Every open stream counts against envoy.max_open_streams until it closes. */
  private streamAdmitted(stream: ServerHttp2Stream): boolean {
    const a = this.o.admission;
    if (a === undefined) return true;
    if (!a.openStream()) {
      stream.on('error', () => {});
      this.throttle.warn(
        'envoy-streams',
        'limit',
        { open_streams: a.openStreams, refused: a.streamsRefused },
        'ext_authz stream refused: envoy.max_open_streams reached',
      );
      this.fail(stream, GRPC_RESOURCE_EXHAUSTED, 'server busy: too many open streams');
      return false;
    }
    stream.once('close', () => a.streamClosed());
    return true;
  }

  /**
   * Runs before the HTTP/2 session exists: a refused peer gets no SETTINGS, no byte of HTTP/2.
   * An admitted connection counts until its socket closes.
   */
  private admitSocket(socket: Socket): void {
    const a = this.o.admission;
    if (a === undefined) return;
    const source = socket.remoteAddress;
    const verdict = a.admit(source);
    if (verdict === 'ok') {
      socket.once('close', () => a.release(source as string));
      return;
    }
    socket.on('error', () => {});
    socket.destroy();
    this.throttle.warn(
      `envoy-${verdict}`,
      source ?? '',
      { peer: source, rejected: a.rejected, refused: a.refused },
      verdict === 'source'
        ? 'ext_authz connection refused: source outside envoy.allowed_sources'
        : `ext_authz connection refused: envoy.${verdict} reached`,
    );
  }

  private track(s: Http2Session): void {
    this.sessions.add(s);
    s.on('error', () => {});
    // keep-alive: a vanished Envoy's connection is noticed and dropped
    const timer = setInterval(() => {
      const dead = setTimeout(() => s.destroy(), this.o.keepaliveTimeoutMs);
      dead.unref();
      if (!s.ping(() => clearTimeout(dead))) clearTimeout(dead);
    }, this.o.keepaliveMs);
    timer.unref();
    s.once('close', () => {
      clearInterval(timer);
      this.sessions.delete(s);
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    if (headers[h2.HTTP2_HEADER_PATH] !== this.o.checkPath) {
      this.relay(stream, headers);
      return;
    }
    const type = headers[h2.HTTP2_HEADER_CONTENT_TYPE];
    if (
      headers[h2.HTTP2_HEADER_METHOD] !== 'POST' ||
      typeof type !== 'string' ||
      !type.startsWith('application/grpc')
    ) {
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    let first: Buffer | null = null;
    let chunks: Buffer[] | null = null;
    let size = 0;
    let refused = false;
    const session = stream.session;
    // the bytes this stream holds leave every budget when it ends, however it ends
    const release = () => {
      if (size === 0 || refused) return;
      this.buffered -= size;
      if (session) this.sessionBuffered.set(session, (this.sessionBuffered.get(session) ?? 0) - size);
      first = null;
      chunks = null;
      size = 0;
    };
    const refuse = (message: string) => {
      release();
      refused = true;
      this.fail(stream, GRPC_RESOURCE_EXHAUSTED, message);
      // a peer that keeps sending gets its stream reset rather than read forever; not from inside
      // the data callback (resetting a stream there while nghttp2 delivers its data corrupts memory)
      setImmediate(() => this.closeStream(stream));
    };
    stream.on('close', release);
    stream.on('data', (c: Buffer) => {
      if (refused) return;
      if (size === 0 && c.length >= 5 && c.readUInt32BE(1) > this.o.maxMessage) {
        refuse('request message too large');
        return;
      }
      const held = session ? (this.sessionBuffered.get(session) ?? 0) : 0;
      if (size + c.length > this.o.maxMessage + 5) {
        refuse('request message too large');
        return;
      }
      if (held + c.length > this.maxSessionBuffered || this.buffered + c.length > this.maxProcessBuffered) {
        this.throttle.warn(
          'envoy-buffer',
          'budget',
          { sessionBytes: held, processBytes: this.buffered },
          'ext_authz request buffer budget exhausted: stream refused',
        );
        refuse('server busy: too many unfinished request bytes');
        return;
      }
      size += c.length;
      this.buffered += c.length;
      if (session) this.sessionBuffered.set(session, held + c.length);
      if (first === null) first = c;
      else {
        chunks ??= [first];
        chunks.push(c);
      }
    });
    stream.on('end', () => {
      try {
        this.onCheckEnd(stream, refused ? null : chunks ? Buffer.concat(chunks) : first);
      } catch (err) {
        this.streamFailed(stream, err);
      } finally {
        release();
      }
    });
  }

  private onCheckEnd(stream: ServerHttp2Stream, body: Buffer | null): void {
    if (stream.headersSent || stream.destroyed || stream.closed) return;
    if (body === null || body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
      this.fail(stream, GRPC_INVALID_ARGUMENT, 'expected exactly one gRPC message');
      return;
    }
    if (body[0] !== 0) {
      this.fail(stream, GRPC_UNIMPLEMENTED, 'compressed messages are not supported (grpc-encoding identity)');
      return;
    }
    let out: ReturnType<CheckAnswer>;
    try {
      out = this.o.answer(body.subarray(5));
    } catch (err) {
      this.throttle.error('envoy-check', 'answer', { err }, 'ext_authz Check failed');
      this.fail(stream, GRPC_INTERNAL, 'internal error');
      return;
    }
    if (!Buffer.isBuffer(out)) {
      this.fail(stream, out.code, out.message);
      return;
    }
    const frame = Buffer.allocUnsafe(5 + out.length);
    frame[0] = 0;
    frame.writeUInt32BE(out.length, 1);
    out.copy(frame, 5);
    stream.respond(OK_HEADERS, RESPOND_OPTS);
    stream.once('wantTrailers', () => {
      if (!stream.destroyed && !stream.closed) stream.sendTrailers(OK_TRAILERS);
    });
    stream.end(frame);
  }

  /** An error thrown on one stream's path: counted, logged rate-limited, that stream closed. */
  private streamFailed(stream: ServerHttp2Stream, err: unknown): void {
    this.streamErrors++;
    this.throttle.warn(
      'envoy-stream',
      'respond',
      { err: asError(err) },
      'ext_authz stream failed; the stream is closed',
    );
    this.closeStream(stream);
  }

  private closeStream(stream: ServerHttp2Stream): void {
    try {
      if (!stream.destroyed && !stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    } catch {
      stream.destroy();
    }
  }

  /** Trailers-only error response. */
  private fail(stream: ServerHttp2Stream, code: number, message: string): void {
    // a stream whose peer has gone is closed before it is destroyed: respond would throw
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    try {
      stream.respond(
        {
          [h2.HTTP2_HEADER_STATUS]: 200,
          [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
          'grpc-status': String(code),
          'grpc-message': encodeURIComponent(message),
        },
        { endStream: true },
      );
    } catch (err) {
      this.streamFailed(stream, err);
    }
  }

  /** Health, reflection and anything else: the private grpc-js server answers. */
  private relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const watch = headers[h2.HTTP2_HEADER_PATH] === WATCH_PATH;
    if (watch) {
      if (this.watches >= MAX_WATCHES) {
        this.throttle.warn(
          'envoy-watch',
          'limit',
          { watches: this.watches },
          'health Watch streams at their limit: refused',
        );
        this.fail(stream, GRPC_RESOURCE_EXHAUSTED, 'too many health Watch streams');
        return;
      }
      this.watches++;
      stream.once('close', () => this.watches--);
    }
    if (this.backendUp) {
      this.relayTo(stream, headers, watch);
      return;
    }
    // the first relayed call starts the backend; the stream's request bytes wait in its
    // (flow-controlled) buffer meanwhile, since nothing reads them yet
    this.o.backendReady().then(
      () => {
        this.backendUp = true;
        this.guard(stream, () => this.relayTo(stream, headers, watch));
      },
      (err: unknown) => {
        this.throttle.error(
          'envoy-backend',
          'start',
          { err: asError(err) },
          'ext_authz health/reflection server did not start',
        );
        this.guard(stream, () => this.fail(stream, GRPC_UNAVAILABLE, 'service unavailable'));
      },
    );
  }

  private relayTo(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, watch: boolean): void {
    const backend = this.backendSession(watch);
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined || NOT_RELAYED.has(k) || (k.startsWith(':') && k !== ':path' && k !== ':method'))
        continue;
      out[k] = v;
    }
    let up: ReturnType<ClientHttp2Session['request']>;
    try {
      up = backend.request(out, { endStream: false });
    } catch {
      this.fail(stream, GRPC_UNAVAILABLE, 'service unavailable');
      return;
    }
    let trailers: Record<string, string | string[]> = { 'grpc-status': String(GRPC_UNAVAILABLE) };
    up.on('error', () =>
      this.guard(stream, () => {
        if (!stream.headersSent) this.fail(stream, GRPC_UNAVAILABLE, 'service unavailable');
        else this.closeStream(stream);
      }),
    );
    up.on('response', (h, flags) =>
      this.guard(stream, () => {
        const head = relayable(h);
        if (flags & h2.NGHTTP2_FLAG_END_STREAM) {
          stream.respond({ ...head, [h2.HTTP2_HEADER_STATUS]: h[':status'] ?? 200 }, { endStream: true });
          return;
        }
        stream.respond({ ...head, [h2.HTTP2_HEADER_STATUS]: h[':status'] ?? 200 }, RESPOND_OPTS);
        stream.once('wantTrailers', () => this.guard(stream, () => stream.sendTrailers(trailers)));
      }),
    );
    up.on('trailers', (t) => {
      trailers = relayable(t);
    });
    // back-pressure both ways: a side that does not read stops the other from being read, so
    // nothing piles up in between. A client that does not read its answers is not read either:
    // otherwise its requests keep the backend answering into buffers nobody drains
    up.on('data', (d: Buffer) =>
      this.guard(stream, () => {
        if (!stream.write(d)) {
          up.pause();
          stream.pause();
        }
      }),
    );
    stream.on('drain', () => {
      up.resume();
      if (!up.writableNeedDrain) stream.resume();
    });
    up.on('drain', () => {
      if (!stream.writableNeedDrain) stream.resume();
    });
    up.on('end', () =>
      this.guard(stream, () => {
        if (stream.headersSent && !stream.writableEnded) stream.end();
      }),
    );
    stream.on('data', (d: Buffer) => {
      if (!up.closed && !up.destroyed && !up.write(d)) stream.pause();
    });
    stream.on('end', () => {
      if (!up.closed && !up.destroyed) up.end();
    });
    stream.on('close', () => {
      if (!up.closed) up.close(h2.NGHTTP2_CANCEL);
    });
  }

  /** Runs one step of a relayed answer unless the client's stream has gone; never throws. */
  private guard(stream: ServerHttp2Stream, step: () => void): void {
    // the client may have gone while the backend answered: nothing to relay to
    if (stream.destroyed || stream.closed) return;
    try {
      step();
    } catch (err) {
      this.streamFailed(stream, err);
    }
  }

  private backendSession(watch: boolean): ClientHttp2Session {
    const cur = watch ? this.watchBackend : this.backend;
    if (cur && !cur.closed && !cur.destroyed) return cur;
    const path = this.o.backendSocket;
    const s = h2connect('http://localhost', { createConnection: () => netConnect(path) });
    s.on('error', (err) =>
      this.o.log.warn({ err }, 'ext_authz relay to the health/reflection server failed'),
    );
    s.unref();
    if (watch) this.watchBackend = s;
    else this.backend = s;
    return s;
  }

  /**
   * Stop accepting connections and tell every session to go away once its open streams are done
   * (GOAWAY); resolves when they are. `cutAfterMs` later, whatever is left is destroyed.
   */
  close(cutAfterMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let cut = false;
      const timer = setTimeout(() => {
        cut = true;
        for (const s of this.sessions) s.destroy();
      }, cutAfterMs);
      this.server.close(() => {
        clearTimeout(timer);
        this.backend?.close();
        this.watchBackend?.close();
        resolve(!cut);
      });
      for (const s of this.sessions) s.close();
    });
  }
}

function relayable(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':') || NOT_RELAYED.has(k)) continue;
    out[k] = v;
  }
  return out;
}
