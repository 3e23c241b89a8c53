import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect, type Socket } from 'node:net';

/**
 * Shared pieces of the abuse tests: what an attacker does to a port (slowloris, connection
 * churn, a peer that never reads) and how the victim is watched (RSS, "is it still answering").
 * Every attack is bounded in time and cleans up its own sockets.
 */

/** VmRSS of a process in MiB, from /proc/PID/status. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Connect to 127.0.0.1:port; rejects on error or after `ms`. */
export function open(port: number, ms = 3000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${port} timed out`));
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Resolves true when `s` closes within `ms`, false otherwise. */
export function closesWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export interface Slowloris {
  socket: Socket;
  /** Bytes written so far. */
  sent: () => number;
  /** Resolves when the server closed the connection (never, if it does not). */
  closed: Promise<void>;
  stop: () => void;
}

/**
 * A slowloris client: `first` at once, then one byte of `drip` every `everyMs` until stopped or
 * closed by the server. What it receives is read and dropped.
 */
export async function slowloris(
  port: number,
  first: Buffer,
  drip: Buffer,
  everyMs = 250,
): Promise<Slowloris> {
  const socket = await open(port);
  socket.on('error', () => {});
  socket.on('data', () => {});
  let sent = 0;
  socket.write(first);
  sent += first.length;
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) return;
    socket.write(drip.subarray(i % drip.length, (i % drip.length) + 1));
    i++;
    sent++;
  }, everyMs);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  closed.then(() => clearInterval(timer));
  return {
    socket,
    sent: () => sent,
    closed,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

/**
 * `total` connect/close cycles, `parallel` at a time; resolves with how many connected.
 * `payload`, when given, is written before the close (a client that says hello and leaves).
 */
export async function churn(port: number, total: number, parallel = 32, payload?: Buffer): Promise<number> {
  let started = 0;
  let ok = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => resolve());
      s.once('connect', () => {
        ok++;
        if (payload) s.write(payload);
        s.destroy();
        resolve();
      });
    });
  const lane = async () => {
    while (started < total) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return ok;
}

export interface NeverReadResult {
  /** Bytes the attacker managed to write. */
  written: number;
  /** True when the server closed the connection. */
  closed: boolean;
  /** True when the attacker's writes stayed blocked (the server stopped reading: backpressure). */
  blocked: boolean;
}

/**
 * A peer that never reads: `first` once, then `request` over and over for `ms` as fast as the
 * server takes it, never reading an answer. Bounded means the server either closes the
 * connection or stops reading (the attacker's writes stay blocked: backpressure), instead of
 * buffering answers without limit.
 */
export async function neverReader(
  port: number,
  first: Buffer,
  request: Buffer | (() => Buffer),
  ms: number,
): Promise<NeverReadResult> {
  const socket = await open(port);
  socket.on('error', () => {});
  socket.pause(); // never read: the kernel's receive buffer fills, then the server's send side
  let closed = false;
  socket.once('close', () => {
    closed = true;
  });
  let written = first.length;
  socket.write(first);
  const fixed =
    typeof request === 'function'
      ? null
      : Buffer.concat(Array.from({ length: Math.max(1, Math.floor(16384 / request.length)) }, () => request));
  const next = (): Buffer => {
    if (fixed) return fixed;
    const parts: Buffer[] = [];
    let n = 0;
    while (n < 16384) {
      const b = (request as () => Buffer)();
      parts.push(b);
      n += b.length;
    }
    return Buffer.concat(parts);
  };
  const end = Date.now() + ms;
  let blockedSince = 0;
  while (Date.now() < end && !closed) {
    if (socket.writableNeedDrain) {
      if (blockedSince === 0) blockedSince = Date.now();
      await sleep(50);
      continue;
    }
    blockedSince = 0;
    const batch = next();
    socket.write(batch);
    written += batch.length;
    await new Promise<void>((r) => setImmediate(r));
  }
  const blocked = blockedSince !== 0 && Date.now() - blockedSince >= 1000;
  socket.destroy();
  return { written, closed, blocked };
}

/** GET `path` on a fresh connection; the status, or 0 on error / no answer within `ms`. */
export function httpStatus(port: number, path: string, ms = 2000, localAddress?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent: false, localAddress, timeout: ms },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The gRPC frame of an empty CheckRequest (what the probes and floods send). */
export const EMPTY_GRPC = Buffer.from([0, 0, 0, 0, 0]);
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** One Check on a fresh HTTP/2 session: its grpc-status, or -1 when nothing came within `ms`. */
export function grpcStatus(port: number, body: Buffer = EMPTY_GRPC, ms = 2000): Promise<number> {
  return new Promise((resolve) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    let status = -1;
    const done = () => {
      clearTimeout(t);
      session.destroy();
      resolve(status);
    };
    const t = setTimeout(done, ms);
    session.on('error', done);
    const req = session.request({
      ':method': 'POST',
      ':path': CHECK_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    });
    req.on('trailers', (h) => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    });
    req.on('error', done);
    req.on('close', done);
    req.resume();
    req.end(body);
  });
}

// --- raw HTTP/2 bytes (to attack below what a well-behaved client library allows) ------------

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One HTTP/2 frame. */
export function h2frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  payload.copy(b, 9);
  return b;
}

/** The client's opening: preface and an empty SETTINGS. */
export const H2_OPEN = Buffer.concat([H2_PREFACE, h2frame(4, 0, 0, Buffer.alloc(0))]);

function hpackLiteral(name: string, value: string): Buffer {
  // literal header field without indexing, new name, no Huffman
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** HEADERS (END_HEADERS) of a gRPC Check on `stream`: POST, http, the Check path. */
export function h2CheckHeaders(stream: number, endStream = false): Buffer {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
    hpackLiteral(':path', CHECK_PATH),
    hpackLiteral(':authority', 'edgeban'),
    hpackLiteral('content-type', 'application/grpc'),
    hpackLiteral('te', 'trailers'),
  ]);
  return h2frame(1, 0x4 | (endStream ? 0x1 : 0), stream, block);
}

/** DATA on `stream`, END_STREAM when `end`. */
export function h2data(stream: number, payload: Buffer, end: boolean): Buffer {
  return h2frame(0, end ? 0x1 : 0, stream, payload);
}

/** A full Check request (HEADERS + DATA with an empty gRPC message) on `stream`. */
export function h2Check(stream: number): Buffer {
  return Buffer.concat([h2CheckHeaders(stream), h2data(stream, EMPTY_GRPC, true)]);
}

/** Pipelined HTTP/1.1 GET. */
export function httpGet(path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: edgeban\r\n\r\n`, 'latin1');
}
