/**
 * Fleet notifications: the bans and unbans one node made, as JSON in a PostgreSQL NOTIFY payload
 * (at most 8000 bytes, so a burst of events is cut into several messages). Any role that may
 * connect to the database may NOTIFY on any channel, so every payload is signed
 * (`<HMAC-SHA256 base64url>.<json>`) with the fleet's key and carries its sending time: a forged,
 * altered or replayed-later payload is refused whole, with a reason, as is one with a bad field.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_SERVICES, normalizeService } from '../../shared/bantable/services.js';
import { EdgebanError } from '../../shared/errors.js';
import { canonicalTarget } from '../../shared/ip/cidr.js';
import type { BanEvent, BanKind, BanRecord } from '../engine/types.js';
import { DEFAULT_JAIL } from '../jails/types.js';

export type FleetEvent = Extract<BanEvent, { type: 'ban' | 'unban' }>;

export interface FleetMessage {
  node: string;
  events: FleetEvent[];
}

/** PostgreSQL refuses payloads of 8000 bytes or more; keep a margin for the envelope. */
export const MAX_PAYLOAD = 7900;
/** Oldest (or furthest in the future: node clocks) a message may be when it arrives. */
export const MAX_AGE_MS = 60_000;
/** Length of the signature and its dot. */
const SIG_LENGTH = 44;

/** The signing key from the configured secret (fleet.secret, or the database password). */
export function fleetKey(secret: string): Buffer {
  return createHash('sha256').update('edgeban-fleet\0').update(secret).digest();
}

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('base64url');
}
/** Longest reason carried (an API reason can be long; the bans table keeps it whole). */
const MAX_REASON = 512;
const VERSION = 1;

export class FleetMessageError extends EdgebanError {
  constructor(message: string) {
    super('E_FLEET_MESSAGE', message);
  }
}

/** The jail and services trail the older fields: a node from before jails sends without them. */
type WireBan =
  | ['b', string, BanKind, string, string | null, number, number | null, string, number]
  | ['b', string, BanKind, string, string | null, number, number | null, string, number, string, string[]];
type WireUnban =
  | ['u', string, BanKind, string, string, number]
  | ['u', string, BanKind, string, string, number, string];

/** Longest jail name carried. */
const MAX_JAIL = 64;

function wire(e: FleetEvent): WireBan | WireUnban {
  if (e.type === 'ban') {
    const r = e.record;
    // the default jail's unscoped bans go as before jails: any node reads them alike
    const scoped = (r.jail !== undefined && r.jail !== DEFAULT_JAIL) || (r.services?.length ?? 0) > 0;
    if (!scoped)
      return [
        'b',
        r.target,
        r.kind,
        r.reason.slice(0, MAX_REASON),
        r.pattern,
        r.createdAt,
        r.expiresAt,
        r.createdBy,
        r.offences,
      ];
    return [
      'b',
      r.target,
      r.kind,
      r.reason.slice(0, MAX_REASON),
      r.pattern,
      r.createdAt,
      r.expiresAt,
      r.createdBy,
      r.offences,
      r.jail ?? DEFAULT_JAIL,
      r.services ?? [],
    ];
  }
  if (e.jail !== undefined && e.jail !== DEFAULT_JAIL)
    return ['u', e.target, e.kind, e.by, e.reason.slice(0, MAX_REASON), e.at, e.jail];
  return ['u', e.target, e.kind, e.by, e.reason.slice(0, MAX_REASON), e.at];
}

/** The signed payloads announcing `events` made on `node` at `now`, each under MAX_PAYLOAD bytes. */
export function encodeMessages(
  key: Buffer,
  node: string,
  events: readonly FleetEvent[],
  now = Date.now(),
): string[] {
  const head = `{"v":${VERSION},"node":${JSON.stringify(node)},"at":${now},"events":[`;
  const out: string[] = [];
  const seal = (items: string) => {
    const body = `${head}${items}]}`;
    out.push(`${sign(key, body)}.${body}`);
  };
  const empty = SIG_LENGTH + Buffer.byteLength(head) + 2;
  let items = '';
  let bytes = empty;
  for (const e of events) {
    const item = JSON.stringify(wire(e));
    const size = Buffer.byteLength(item) + 1;
    if (items !== '' && bytes + size > MAX_PAYLOAD) {
      seal(items);
      items = '';
      bytes = empty;
    }
    items = items === '' ? item : `${items},${item}`;
    bytes += size;
  }
  if (items !== '') seal(items);
  return out;
}

const KINDS = new Set<string>(['temp', 'blacklist', 'whitelist']);

/**
 * The fields of a `SIGNATURE.JSON` payload once its signature (`signOf`, compared in constant
 * time), version, age and node check out. Throws FleetMessageError naming what is wrong.
 */
export function openSigned(
  payload: string,
  signOf: (body: string) => string,
  now: number,
): Record<string, unknown> & { node: string; at: number } {
  const dot = payload.indexOf('.');
  if (dot !== SIG_LENGTH - 1) throw new FleetMessageError('payload is not signed');
  const body = payload.slice(dot + 1);
  const got = Buffer.from(payload.slice(0, dot));
  const want = Buffer.from(signOf(body));
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new FleetMessageError('bad signature (another fleet.secret, or forged)');
  let m: unknown;
  try {
    m = JSON.parse(body);
  } catch {
    throw new FleetMessageError('payload is not JSON');
  }
  if (typeof m !== 'object' || m === null) throw new FleetMessageError('payload is not an object');
  const o = m as Record<string, unknown>;
  if (o.v !== VERSION) throw new FleetMessageError(`unknown message version ${JSON.stringify(o.v)}`);
  if (typeof o.at !== 'number' || Math.abs(now - o.at) > MAX_AGE_MS)
    throw new FleetMessageError('message too old or from the future (replayed, or node clocks apart)');
  if (typeof o.node !== 'string' || o.node === '') throw new FleetMessageError('node is missing');
  return o as Record<string, unknown> & { node: string; at: number };
}

/** Verifies, parses and checks one payload. Throws FleetMessageError naming what is wrong. */
export function decodeMessage(key: Buffer, payload: string, now = Date.now()): FleetMessage {
  const o = openSigned(payload, (body) => sign(key, body), now);
  if (!Array.isArray(o.events)) throw new FleetMessageError('events is not a list');
  const node = o.node;
  const events = o.events.map((w, i) => eventOf(w, i, node));
  return { node, events };
}

function eventOf(w: unknown, i: number, node: string): FleetEvent {
  const bad = (what: string) => new FleetMessageError(`event ${i}: ${what}`);
  if (!Array.isArray(w)) throw bad('not a list');
  const [tag, target, kind] = w;
  if (typeof target !== 'string') throw bad('target is not a string');
  const key = canonicalTarget(target);
  if (key === null) throw bad(`invalid target ${JSON.stringify(target.slice(0, 64))}`);
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw bad('unknown kind');
  const k = kind as BanKind;
  const isStr = (v: unknown): v is string => typeof v === 'string';
  const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const isJail = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_JAIL;
  if (tag === 'b' && (w.length === 9 || w.length === 11)) {
    const [, , , reason, pattern, createdAt, expiresAt, createdBy, offences, jail, services] = w;
    if (!isStr(reason) || !(pattern === null || isStr(pattern)) || !isStr(createdBy))
      throw bad('bad text field');
    if (!isTime(createdAt) || !(expiresAt === null || isTime(expiresAt))) throw bad('bad time');
    if (k === 'temp' && expiresAt === null) throw bad('a temporary ban without expiry');
    if (typeof offences !== 'number' || !Number.isInteger(offences) || offences < 0)
      throw bad('bad offences');
    const record: BanRecord = {
      target: key,
      kind: k,
      reason,
      pattern,
      createdAt,
      expiresAt,
      createdBy,
      offences,
      node,
    };
    if (w.length === 11) {
      if (!isJail(jail)) throw bad('bad jail');
      if (!Array.isArray(services) || services.length > MAX_SERVICES) throw bad('bad services');
      const names: string[] = [];
      for (const s of services) {
        const n = typeof s === 'string' ? normalizeService(s) : null;
        if (n === null) throw bad('bad service name');
        names.push(n);
      }
      record.jail = jail;
      record.services = names;
    }
    return { type: 'ban', record };
  }
  if (tag === 'u' && (w.length === 6 || w.length === 7)) {
    const [, , , by, reason, at, jail] = w;
    if (!isStr(by) || !isStr(reason) || !isTime(at)) throw bad('bad field');
    if (w.length === 7 && !isJail(jail)) throw bad('bad jail');
    return { type: 'unban', target: key, kind: k, by, reason, at, ...(w.length === 7 ? { jail } : {}) };
  }
  throw bad('unknown event');
}
