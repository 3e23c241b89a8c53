import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LogThrottle } from '../../log/throttle.js';

/** A subscriber this far behind is dropped rather than buffered without bound. */
const MAX_BUFFERED = 1 << 20;
const KEEPALIVE_MS = 15_000;

export interface SseOptions {
  /** Most streams of this route at once; past it: 503. */
  maxStreams: number;
  /** What the route is called in the 503 message and the slow-subscriber log line. */
  label: string;
  /** The comment line a stream starts with. */
  greeting: string;
  throttle: LogThrottle;
}

/** Sends one event; false once the stream is gone (closed, or dropped for being too slow). */
export type SseSend = (event: string, data: string, id?: number) => boolean;

/**
 * Server-sent event streams of one route: a bound on how many, a keep-alive comment, and a
 * subscriber that does not read is closed instead of buffered. `open` answers the request and
 * returns the sender, or null (503 sent) when the route is full; `onClose` runs once it ends.
 */
export function sseRoute(o: SseOptions) {
  let streams = 0;
  return (req: FastifyRequest, reply: FastifyReply, onClose: () => void): SseSend | null => {
    if (streams >= o.maxStreams) {
      reply.code(503).send({ success: false, message: `too many ${o.label} streams (${o.maxStreams})` });
      return null;
    }
    streams++;
    reply.hijack();
    // a stream is quiet between events: the server's inactivity timeout must not cut it
    req.socket.setTimeout(0);
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(`: ${o.greeting}\n\n`);
    const ping = setInterval(() => res.write(': ping\n\n'), KEEPALIVE_MS);
    ping.unref();
    res.on('close', () => {
      streams--;
      clearInterval(ping);
      onClose();
    });
    return (event, data, id) => {
      if (res.destroyed || res.writableEnded) return false;
      if (res.writableLength > MAX_BUFFERED) {
        const peer = req.caller?.peer ?? '';
        o.throttle.warn(`${o.label}-slow`, peer, { peer }, `${o.label} stream too slow: closed`);
        res.destroy();
        return false;
      }
      res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
      return true;
    };
  };
}

/** Ends a stream opened by `sseRoute` (a process that stops must not wait for subscribers). */
export function endSse(reply: FastifyReply): void {
  reply.raw.end();
}
