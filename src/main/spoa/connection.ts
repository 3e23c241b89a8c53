import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { encodeAgentDisconnect, encodeAgentHello } from './frames.js';
import { decodeKvList, type TypedValue } from './kvlist.js';
import { NOTIFY_INVALID, type NotifyAnswerer } from './notify.js';
import {
  FLAG_ABORT,
  FLAG_FIN,
  FrameType,
  MIN_FRAME,
  MIN_MAX_FRAME,
  PRE_HELLO_MAX_FRAME,
  STATUS_TEXT,
  Status,
} from './protocol.js';
import { decodeVarint, varint } from './varint.js';

enum State {
  AwaitHello = 0,
  Ready = 1,
  Closed = 2,
}

/** What a connection needs from its server (shared by every connection). */
export interface ConnectionHost {
  readonly answerer: NotifyAnswerer;
  readonly log: Logger;
  /** Largest frame the agent accepts (`spoa.max_frame_size`). */
  readonly maxFrameSize: number;
  /** Counts a protocol error by status. */
  protocolError(status: number): void;
  /** Counts frames read by type. */
  frames: number;
  connectionClosed(c: SpoaConnection): void;
  helloDone(healthcheck: boolean): void;
}

/**
 * One HAProxy connection: framing, handshake, NOTIFY/ACK and DISCONNECT. Bytes are parsed
 * synchronously on 'data'; the ACKs of one read go out in one write.
 */
export class SpoaConnection {
  readonly socket: Socket;
  readonly peer: string;
  readonly openedAt: number;
  engineId = '';
  lastActivity: number;
  /** When the bytes of an incomplete frame started waiting (0 = none pending). */
  partialSince = 0;
  private state = State.AwaitHello;
  private readonly host: ConnectionHost;
  private maxFrame = PRE_HELLO_MAX_FRAME;
  /** Carry-over of an incomplete frame. */
  private inbuf: Buffer | null = null;
  private inLen = 0;
  private out: Buffer;
  private outLen = 0;
  private flushScheduled = false;
  /** Bound once per connection: the deferred flush of everything produced in this loop turn. */
  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(socket: Socket, host: ConnectionHost, now: number) {
    this.socket = socket;
    this.host = host;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.openedAt = now;
    this.lastActivity = now;
    this.out = Buffer.allocUnsafe(4096);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Resets and broken pipes are how HAProxy ends connections; not worth more than debug.
      host.log.debug(
        { peer: this.peer, engine_id: this.engineId, err: err.code ?? err.message },
        'SPOA connection error',
      );
    });
    socket.on('close', () => {
      this.state = State.Closed;
      this.inbuf = null;
      host.connectionClosed(this);
    });
  }

  get ready(): boolean {
    return this.state === State.Ready;
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Closed) return;
    const nowMs = Date.now();
    this.lastActivity = nowMs;
    const now = (nowMs / 1000) | 0;
    let buf: Buffer;
    let p: number;
    let end: number;
    if (this.inLen === 0) {
      buf = chunk;
      p = 0;
      end = chunk.length;
    } else {
      this.append(chunk);
      buf = this.inbuf!;
      p = 0;
      end = this.inLen;
    }
    while (end - p >= 4) {
      const len = buf.readUInt32BE(p);
      if (len > this.maxFrame) {
        this.fail(Status.TOO_BIG, `frame of ${len} bytes exceeds ${this.maxFrame}`);
        return;
      }
      if (len < MIN_FRAME) {
        this.fail(Status.INVALID, `frame of ${len} bytes is shorter than a header`);
        return;
      }
      if (end - p - 4 < len) break;
      this.host.frames++;
      if (!this.frame(buf, p + 4, p + 4 + len, now)) return;
      p += 4 + len;
    }
    // keep what is left of an incomplete frame
    if (p === end) {
      this.inLen = 0;
      this.partialSince = 0;
    } else if (buf === chunk) {
      this.inLen = 0;
      this.append(chunk.subarray(p, end));
      this.partialSince = nowMs;
    } else if (p > 0) {
      buf.copy(buf, 0, p, end);
      this.inLen = end - p;
      this.partialSince = nowMs;
    } else if (this.partialSince === 0) {
      this.partialSince = nowMs;
    }
    // libuv reads a busy socket several times per poll phase: answer them all in one write
    if (this.outLen > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private append(chunk: Buffer): void {
    const need = this.inLen + chunk.length;
    if (this.inbuf === null || this.inbuf.length < need) {
      // at most one frame plus its length prefix is ever waiting; more is refused before this
      const size = Math.max(need, Math.min(this.maxFrame + 4, 65536));
      const next = Buffer.allocUnsafe(size);
      if (this.inbuf !== null && this.inLen > 0) this.inbuf.copy(next, 0, 0, this.inLen);
      this.inbuf = next;
    }
    chunk.copy(this.inbuf, this.inLen);
    this.inLen = need;
  }

  /** Handle one complete frame at [start, end). Returns false when the connection is done. */
  private frame(buf: Buffer, start: number, end: number, now: number): boolean {
    const type = buf[start];
    const flags = buf.readUInt32BE(start + 1);
    const idStart = start + 5;
    if (!decodeVarint(buf, idStart, end)) return this.fail(Status.INVALID, 'bad stream-id');
    const sid = varint.value;
    if (!decodeVarint(buf, varint.next, end)) return this.fail(Status.INVALID, 'bad frame-id');
    const fid = varint.value;
    const payload = varint.next;
    if (type === FrameType.UNSET || (flags & FLAG_FIN) === 0) {
      return this.fail(Status.FRAG_NOT_SUPPORTED, 'fragmented frame');
    }
    if ((flags & FLAG_ABORT) !== 0) return true; // only meaningful with fragmentation: ignore
    if (this.state === State.AwaitHello) {
      if (type !== FrameType.HAPROXY_HELLO)
        return this.fail(Status.INVALID, `frame type ${type} before HELLO`);
      if (sid !== 0 || fid !== 0) return this.fail(Status.INVALID, 'HELLO with non-zero ids');
      return this.hello(buf, payload, end);
    }
    switch (type) {
      case FrameType.NOTIFY: {
        this.reserve(end - start + 64 + 8 * this.host.answerer.maxActionBytes);
        const w = this.host.answerer.answer(
          buf,
          idStart,
          payload,
          end,
          this.out,
          this.outLen,
          now,
          this.maxFrame,
        );
        if (w === NOTIFY_INVALID) return this.fail(Status.INVALID, 'malformed NOTIFY');
        this.outLen = w;
        return true;
      }
      case FrameType.HAPROXY_DISCONNECT:
        if (sid !== 0 || fid !== 0) return this.fail(Status.INVALID, 'DISCONNECT with non-zero ids');
        return this.disconnected(buf, payload, end);
      case FrameType.HAPROXY_HELLO:
        return this.fail(Status.INVALID, 'second HELLO');
      default:
        return true; // unknown frame types after the handshake are ignored, as HAProxy does
    }
  }

  private hello(buf: Buffer, p: number, end: number): boolean {
    const kv = decodeKvList(buf, p, end);
    if (kv === null) return this.fail(Status.INVALID, 'malformed HELLO');
    const versions = kv.get('supported-versions');
    if (typeof versions !== 'string') return this.fail(Status.NO_VSN);
    if (!versions.split(',').some((v) => isVersion20(v)))
      return this.fail(Status.BAD_VSN, `unsupported versions "${versions}"`);
    const mfs = asInt(kv.get('max-frame-size'));
    if (mfs === null) return this.fail(Status.NO_FRAME_SIZE);
    if (mfs < MIN_MAX_FRAME) return this.fail(Status.BAD_FRAME_SIZE);
    if (typeof kv.get('capabilities') !== 'string') return this.fail(Status.NO_CAP);
    const engine = kv.get('engine-id');
    this.engineId = typeof engine === 'string' ? engine.slice(0, 64) : '';
    const healthcheck = kv.get('healthcheck') === true;
    this.maxFrame = Math.min(mfs, this.host.maxFrameSize);
    this.state = State.Ready;
    this.queue(encodeAgentHello(this.maxFrame, 'pipelining'));
    this.host.helloDone(healthcheck);
    if (healthcheck) {
      // a health check only wants the AGENT-HELLO; HAProxy closes its side anyway
      this.flush();
      this.state = State.Closed;
      this.socket.end();
      return false;
    }
    return true;
  }

  private disconnected(buf: Buffer, p: number, end: number): boolean {
    const kv = decodeKvList(buf, p, end);
    const status = asInt(kv?.get('status-code')) ?? Status.NORMAL;
    const message = kv?.get('message');
    this.host.log.debug(
      {
        peer: this.peer,
        engine_id: this.engineId,
        status,
        message: typeof message === 'string' ? message : undefined,
      },
      'HAProxy disconnected',
    );
    // Echo the status back so HAProxy's SPOE log keeps it (as the reference agent does).
    this.close(status, typeof message === 'string' ? message : undefined);
    return false;
  }

  /** Protocol error: AGENT-DISCONNECT with the status, then close. */
  private fail(status: number, detail?: string): false {
    this.host.protocolError(status);
    this.host.log.warn(
      { peer: this.peer, engine_id: this.engineId || undefined, status, reason: STATUS_TEXT[status], detail },
      'SPOP protocol error, disconnecting',
    );
    this.close(status);
    return false;
  }

  /** Send AGENT-DISCONNECT (after any pending ACKs) and end the connection. */
  close(status: number, message?: string): void {
    if (this.state === State.Closed) return;
    this.queue(encodeAgentDisconnect(status, message));
    this.flush();
    this.state = State.Closed;
    this.inLen = 0;
    this.socket.end();
    // a peer that never reads must not keep the socket forever
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private reserve(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.outLen + n));
    this.out.copy(next, 0, 0, this.outLen);
    this.out = next;
  }

  private queue(frame: Buffer): void {
    this.reserve(frame.length);
    frame.copy(this.out, this.outLen);
    this.outLen += frame.length;
  }

  /** One write for everything produced by this read; stop reading while the peer does not. */
  private flush(): void {
    if (this.outLen === 0) return;
    const chunk = Buffer.allocUnsafe(this.outLen);
    this.out.copy(chunk, 0, 0, this.outLen);
    this.outLen = 0;
    if (this.socket.destroyed || !this.socket.writable) return;
    if (!this.socket.write(chunk)) this.socket.pause();
  }
}

function isVersion20(v: string): boolean {
  const m = /^\s*(\d+)\.(\d+)\s*$/.exec(v);
  return m !== null && Number(m[1]) === 2 && Number(m[2]) === 0;
}

function asInt(v: TypedValue | undefined): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint') return null;
  return null;
}
