import type { FastifyInstance } from 'fastify';
import type { BanEvent } from '../../engine/types.js';
import type { ApiDeps } from './context.js';
import { iso } from './format.js';

const MAX_STREAMS = 64;
/** A subscriber this far behind is dropped rather than buffered without bound. */
const MAX_BUFFERED = 1 << 20;
const KEEPALIVE_MS = 15_000;

/** GET /api/events: bans, unbans and list changes as server-sent events. */
export function eventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  let streams = 0;
  app.get(
    '/api/events',
    {
      schema: {
        tags: ['bans'],
        summary: 'Server-sent events: `ban` and `unban` as they happen (text/event-stream)',
      },
    },
    (req, reply) => {
      if (streams >= MAX_STREAMS) {
        reply.code(503).send({ success: false, message: `too many event streams (${MAX_STREAMS})` });
        return;
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
      res.write(': edgeban events\n\n');
      let id = 0;
      const off = deps.engine.onEvent((e) => {
        const view = eventView(e);
        if (!view) return;
        if (res.writableLength > MAX_BUFFERED) {
          const peer = req.caller?.peer ?? '';
          deps.gate.throttle.warn('api-events-slow', peer, { peer }, 'event stream too slow: closed');
          res.destroy();
          return;
        }
        res.write(`id: ${++id}\nevent: ${view.type}\ndata: ${JSON.stringify(view.data)}\n\n`);
      });
      const ping = setInterval(() => res.write(': ping\n\n'), KEEPALIVE_MS);
      ping.unref();
      res.on('close', () => {
        streams--;
        off();
        clearInterval(ping);
      });
    },
  );
}

function eventView(e: BanEvent): { type: string; data: Record<string, unknown> } | null {
  switch (e.type) {
    case 'ban': {
      const r = e.record;
      return {
        type: 'ban',
        data: {
          ip_address: r.target,
          kind: r.kind,
          reason: r.reason,
          pattern: r.pattern,
          created_at: iso(r.createdAt),
          expires_at: iso(r.expiresAt),
          created_by: r.createdBy,
          offences: r.offences,
          node: r.node,
          // `fleet`: made on another node and only applied here
          origin: e.origin ?? 'local',
        },
      };
    }
    case 'unban':
      return {
        type: 'unban',
        data: {
          ip_address: e.target,
          kind: e.kind,
          by: e.by,
          reason: e.reason,
          at: iso(e.at),
          origin: e.origin ?? 'local',
        },
      };
    default:
      return null;
  }
}
