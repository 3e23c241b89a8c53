import type { FastifyInstance } from 'fastify';
import type { BanEvent } from '../../engine/types.js';
import type { ApiDeps } from './context.js';
import { iso } from './format.js';
import { sseRoute } from './sse.js';

/** GET /api/events: bans, unbans and list changes as server-sent events. */
export function eventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const open = sseRoute({
    maxStreams: 64,
    label: 'event',
    greeting: 'edgeban events',
    throttle: deps.gate.throttle,
  });
  app.get(
    '/api/events',
    {
      schema: {
        tags: ['bans'],
        summary: 'Server-sent events: `ban` and `unban` as they happen (text/event-stream)',
      },
    },
    (req, reply) => {
      let off = () => {};
      const send = open(req, reply, () => off());
      if (send === null) return;
      let id = 0;
      off = deps.engine.onEvent((e) => {
        const view = eventView(e);
        if (view) send(view.type, JSON.stringify(view.data), ++id);
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
