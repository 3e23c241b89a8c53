import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BanTable } from '../../../shared/bantable/table.js';
import type { BanEngine } from '../../engine/engine.js';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../../store/types.js';
import type { ApiGate } from './security.js';

/** What the API routes work with. The store is looked up per call: it may be wired after the API. */
export interface ApiDeps {
  engine: BanEngine;
  table: BanTable;
  store: () => Store | null;
  gate: ApiGate;
  log: Logger;
  /** Rate-limit bookkeeping for GET /api/security-status. */
  rateLimit: { enabled: boolean; perMinute: number; activeClients: () => number };
}

/** `created_by` for a change: the body's field, else the authenticated user, else `api`. */
export function actor(req: FastifyRequest, given?: string): string {
  return given || req.caller?.user || 'api';
}

/** Audit line for every change: who (created_by, user, peer) did what to which target. */
export function audit(
  deps: ApiDeps,
  req: FastifyRequest,
  action: string,
  fields: Record<string, unknown>,
): void {
  deps.log.info(
    { audit: action, peer: req.caller?.peer, user: req.caller?.user ?? null, ...fields },
    `API ${action}`,
  );
}

/** Waits until the change is in the database (when there is one) so the answer means durable. */
export async function persisted(deps: ApiDeps): Promise<boolean | null> {
  const store = deps.store();
  if (!store) return null;
  const r = await store.flush();
  return r.durable;
}

export function fail(
  reply: FastifyReply,
  code: number,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(code).send({ success: false, message, ...extra });
}
