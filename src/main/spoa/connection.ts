import type { Socket } from 'node:net';
import { EdgebanError } from '../../shared/errors.js';
import type { Logger } from '../log/logger.js';
import type { LogThrottle } from '../log/throttle.js';
import type { LatencyRecorder } from '../metrics/latency.js';
import { encodeAgentDisconnect, encodeAgentHello } from './frames.js';
import { decodeKvList, type TypedValue } from './kvlist.js';
import { NOTIFY_INVALID, NOTIFY_TOO_BIG, type NotifyAnswerer } from './notify.js';
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
import { VarintReader } from './varint.js';

enum State {
  AwaitHello = 0,
  Ready = 1,
  Closed = 2,
}

/** Past this many pending output bytes the ACKs go out at once (and a slow reader is paused). */
const OUT_HIGH_WATER = 256 * 1024;

/** What a connection needs from its server (shared by every connection). */
export interface ConnectionHost {
  readonly answerer: NotifyAnswerer;
  /** Time per NOTIFY answered, when metrics are on. */
  readonly latency?: LatencyRecorder | null;
  readonly log: Logger;
  /** Every line a peer can trigger goes through it (one per kind and source per window). */
  readonly throttle: LogThrottle;
  /** Largest frame the agent accepts (`spoa.max_frame_size`). */
  readonly maxFrameSize: number;
  /** Counts a protocol error by status. */
  protocolError(status: number): void;
  /** Counts frames read by type. */
  frames: number;
  /** The connection no longer counts against the limits (closing, or closed by the peer); once. */
  connectionClosed(c: SpoaConnection): void;
  helloDone(healthcheck: boolean): void;
  /** An exception escaped the handling of this connection's bytes; the connection is closed. */
  handlerError(c: SpoaConnection, err: unknown): void;
}

/**
 * One HAProxy connection: framing, handshake, NOTIFY/ACK and DISCONNECT. Bytes are parsed
 * synchronously on 'data'; the ACKs of one read go out in one write.
 */
export class SpoaConnection {
  readonly socket: Socket;
  /** The peer's address (the per-source limits count by it). */
  readonly source: string;
  /** Address and port, for logs. */
  readonly peer: string;
  readonly openedAt: number;
  engineId = '';
  lastActivity: number;
  /** Last HELLO or NOTIFY (ms): connections idle the longest are evicted first when full. */
  lastUse: number;
  /** Sent a NOTIFY at least once: a peer that only said HELLO is the first to make room. */
  notified = false;
  /** When the bytes of an incomplete frame started waiting (0 = none pending). */
  partialSince = 0;
  private state = State.AwaitHello;
  private released = false;
  private readonly host: ConnectionHost;
  private maxFrame = PRE_HELLO_MAX_FRAME;
  /** Carry-over of an incomplete frame. */
  private inbuf: Buffer | null = null;
  private inLen = 0;
  private out: Buffer;
  private outLen = 0;
  /** Frame headers' stream and frame ids are read with this connection's own reader. */
  private readonly varint = new VarintReader();
  /** A read of this loop turn already answered at once; later ones wait for the turn's end. */
  private turnOpen = false;
  /** Bound once per connection: the end of a turn writes what its later reads produced. */
  private readonly endTurn = () => {
    this.turnOpen = false;
    try {
      this.flush();
    } catch (err) {
      this.crashed(err);
    }
  };
  /** No exception from the handling of a read may leave it: it closes this connection only. */
  private readonly onSocketData = (chunk: Buffer) => {
    try {
      this.onData(chunk);
    } catch (err) {
      this.crashed(err);
    }
  };

  constructor(socket: Socket, host: ConnectionHost, now: number) {
    this.socket = socket;
    this.host = host;
    this.source = socket.remoteAddress ?? '';
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.openedAt = now;
    this.lastActivity = now;
    this.lastUse = now;
    // zeroed: whatever happens, no byte of an earlier allocation can reach this peer
    this.out = Buffer.alloc(4096);
    socket.on('data', this.onSocketData);
    socket.on('drain', () => socket.resume());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Resets and broken pipes are how HAProxy ends connections; not worth more than debug.
      host.log.debug({ peer: this.peer, engine_id: this.engineId, err }, 'SPOA connection error');
    });
    socket.on('close', () => {
      this.state = State.Closed;
      this.inbuf = null;
      this.release();
    });
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.host.connectionClosed(this);
  }

  private crashed(err: unknown): void {
    this.host.handlerError(this, err);
    try {
      this.close(Status.UNKNOWN, 'internal error');
    } catch {
      this.state = State.Closed;
      this.socket.destroy();
      this.release();
    }
  }

  get ready(): boolean {
    return this.state === State.Ready;
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Closed) return;
    const nowMs = Date.now();
    this.lastActivity = nowMs;
    const now = (nowMs / 1000) | 0;
    // timed per read, not per NOTIFY: a clock read costs about as much as an answer
    const latency = this.host.latency;
    const t0 = latency ? performance.now() : 0;
    const notifies0 = latency ? this.host.answerer.counters.notifies : 0;
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
      if (!this.frame(buf, p + 4, p + 4 + len, now, nowMs)) return;
      p += 4 + len;
      // a peer that pipelines faster than it reads: write now, and pause it if it does not read
      if (this.outLen >= OUT_HIGH_WATER) this.flush();
    }
    if (latency) {
      const n = this.host.answerer.counters.notifies - notifies0;
      if (n > 0) latency.observeBatchMs(performance.now() - t0, n);
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
    // The first read of a loop turn is answered at once (one NOTIFY in flight: no wait). A busy
    // socket is read several times per poll phase: the answers of its later reads go out
    // together in one write when the turn ends.
    if (this.outLen > 0 && !this.turnOpen) {
      this.flush();
      this.turnOpen = true;
      setImmediate(this.endTurn);
    }
  }

  private append(chunk: Buffer): void {
    const need = this.inLen + chunk.length;
    if (this.inbuf === null || this.inbuf.length < need) {
      // at most one frame plus its length prefix is ever waiting; more is refused before this
      const size = Math.max(need, Math.min(this.maxFrame + 4, 65536));
      const next = Buffer.alloc(size);
      if (this.inbuf !== null && this.inLen > 0) this.inbuf.copy(next, 0, 0, this.inLen);
      this.inbuf = next;
    }
    chunk.copy(this.inbuf, this.inLen);
    this.inLen = need;
  }

  /** Handle one complete frame at [start, end). Returns false when the connection is done. */
  private frame(buf: Buffer, start: number, end: number, now: number, nowMs: number): boolean {
    const type = buf[start];
    const flags = buf.readUInt32BE(start + 1);
    const idStart = start + 5;
    const vr = this.varint;
    if (!vr.decode(buf, idStart, end)) return this.fail(Status.INVALID, 'bad stream-id');
    const sid = vr.value;
    if (!vr.decode(buf, vr.next, end)) return this.fail(Status.INVALID, 'bad frame-id');
    const fid = vr.value;
    const payload = vr.next;
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
        this.lastUse = nowMs;
        this.notified = true;
        const answerer = this.host.answerer;
        this.reserve(answerer.reserveFor(payload - idStart, end - payload, this.maxFrame));
        const w = answerer.answer(buf, idStart, payload, end, this.out, this.outLen, now, this.maxFrame);
        if (w === NOTIFY_INVALID) return this.fail(Status.INVALID, 'malformed NOTIFY');
        if (w === NOTIFY_TOO_BIG)
          return this.fail(Status.TOO_BIG, `ACK would exceed max-frame-size ${this.maxFrame}`);
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
    this.lastUse = Date.now();
    this.queue(encodeAgentHello(this.maxFrame, 'pipelining'));
    this.host.helloDone(healthcheck);
    if (healthcheck) {
      // a health check only wants the AGENT-HELLO; HAProxy closes its side anyway
      this.flush();
      this.state = State.Closed;
      this.release();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
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
    this.host.throttle.warn(
      `protocol_error_${status}`,
      this.source,
      { peer: this.peer, engine_id: this.engineId || undefined, status, reason: STATUS_TEXT[status], detail },
      'SPOP protocol error, disconnecting',
    );
    this.close(status);
    return false;
  }

  /** Send AGENT-DISCONNECT (after any pending ACKs) and end the connection. */
  close(status: number, message?: string): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.inLen = 0;
    this.inbuf = null;
    this.release();
    this.queue(encodeAgentDisconnect(status, message));
    this.flush();
    this.socket.end();
    // a peer that never reads must not keep the socket forever
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private reserve(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    const next = Buffer.alloc(Math.max(this.out.length * 2, this.outLen + n));
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
    const n = this.outLen;
    if (n === 0) return;
    this.outLen = 0;
    if (this.socket.destroyed || !this.socket.writable) return;
    const chunk = Buffer.allocUnsafe(n);
    // every byte of the chunk is one written for these answers, or nothing goes out
    if (this.out.copy(chunk, 0, 0, n) !== n)
      throw new EdgebanError('E_SPOA_OUTPUT', `output of ${n} bytes exceeds its buffer (${this.out.length})`);
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
