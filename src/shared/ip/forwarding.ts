import type { CidrFilter } from './cidr-filter.js';
import { FAMILY_INVALID, type Family, parseIpInto } from './parse.js';

/**
 * Which client an `/auth` request is about. Forwarding headers are believed only when the TCP
 * peer is a trusted proxy (nginx.trusted_proxies); anyone else is judged by their own address,
 * so a client talking to edgeban directly cannot claim to be someone else.
 *
 * Header order is the reference's (X-Original-IP, X-Forwarded-For, X-Real-IP, X-Client-IP,
 * CF-Connecting-IP) plus RFC 7239 `Forwarded`; the first header present decides. A header that
 * is present but does not hold a valid address gives no address (never the peer's): a garbled
 * header from the proxy must not turn into a lookup of the proxy itself.
 */

export const ADDRESS_SOURCES = [
  'x-original-ip',
  'x-forwarded-for',
  'x-real-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'forwarded',
] as const;

type Headers = Record<string, string | string[] | undefined>;

/** What resolveClientAddress noticed on the way (reused by the caller: no allocation). */
export interface AddressNotes {
  /** An untrusted peer sent a forwarding header (ignored): nginx.trusted_proxies may be wrong. */
  untrustedForwarding: boolean;
}

/** Fills `out` with the client's address; returns its family, or 0 when there is no usable one. */
export function resolveClientAddress(
  headers: Headers,
  peer: string | undefined,
  trusted: CidrFilter,
  out: Uint8Array,
  notes?: AddressNotes,
): Family {
  if (notes !== undefined) notes.untrustedForwarding = false;
  if (peer === undefined) return FAMILY_INVALID;
  if (!trusted.allows(peer)) {
    if (notes !== undefined) notes.untrustedForwarding = hasForwarding(headers);
    return parseIpInto(peer, out);
  }
  let v = headers['x-original-ip'];
  if (v !== undefined && v !== '') return single(v, out);
  v = headers['x-forwarded-for'];
  if (v !== undefined && v !== '') return rightmostUntrusted(joined(v), trusted, out);
  v = headers['x-real-ip'];
  if (v !== undefined && v !== '') return single(v, out);
  v = headers['x-client-ip'];
  if (v !== undefined && v !== '') return single(v, out);
  v = headers['cf-connecting-ip'];
  if (v !== undefined && v !== '') return single(v, out);
  v = headers.forwarded;
  if (v !== undefined && v !== '') return forwardedFor(joined(v), trusted, out);
  return parseIpInto(peer, out);
}

function hasForwarding(h: Headers): boolean {
  for (const name of ADDRESS_SOURCES) if (h[name] !== undefined) return true;
  return false;
}

function joined(v: string | string[]): string {
  return typeof v === 'string' ? v : v.join(',');
}

function single(v: string | string[], out: Uint8Array): Family {
  const s = typeof v === 'string' ? v : v[0];
  return parseHop(s, 0, s.length, out);
}

/**
 * X-Forwarded-For: walk from the right, skipping hops that are trusted proxies; the first
 * untrusted hop is the client (the left-most one when every hop is trusted). Anything left of
 * that hop was written by the client and is ignored.
 */
export function rightmostUntrusted(s: string, trusted: CidrFilter, out: Uint8Array): Family {
  let end = s.length;
  let fam: Family = FAMILY_INVALID;
  while (end > 0) {
    const comma = s.lastIndexOf(',', end - 1);
    fam = parseHop(s, comma + 1, end, out);
    if (fam === FAMILY_INVALID) return FAMILY_INVALID;
    if (!trusted.containsBytes(out, fam)) return fam;
    end = Math.max(comma, 0);
  }
  return fam;
}

/** RFC 7239: the right-most untrusted `for=` node, same walk as X-Forwarded-For. */
function forwardedFor(s: string, trusted: CidrFilter, out: Uint8Array): Family {
  let end = s.length;
  let fam: Family = FAMILY_INVALID;
  while (end > 0) {
    const comma = s.lastIndexOf(',', end - 1);
    const element = s.slice(comma + 1, end);
    const m = /(?:^|;)\s*for\s*=\s*("?)([^;",]*)\1/i.exec(element);
    if (!m) return FAMILY_INVALID;
    fam = parseHop(m[2], 0, m[2].length, out);
    if (fam === FAMILY_INVALID) return FAMILY_INVALID;
    if (!trusted.containsBytes(out, fam)) return fam;
    end = Math.max(comma, 0);
  }
  return fam;
}

/** One hop: trims blanks, accepts `[v6]`, `[v6]:port` and `v4:port`. No allocation. */
export function parseHop(s: string, start: number, end: number, out: Uint8Array): Family {
  while (start < end && isBlank(s.charCodeAt(start))) start++;
  while (end > start && isBlank(s.charCodeAt(end - 1))) end--;
  if (start >= end) return FAMILY_INVALID;
  if (s.charCodeAt(start) === 91 /* [ */) {
    const close = s.indexOf(']', start);
    if (close < 0 || close >= end) return FAMILY_INVALID;
    // after `]` only `:PORT` may follow
    if (close + 1 < end && !(s.charCodeAt(close + 1) === 58 && isPort(s, close + 2, end)))
      return FAMILY_INVALID;
    const fam = parseIpInto(s, out, start + 1, close);
    return fam === 6 || (fam === 4 && hasColon(s, start + 1, close)) ? fam : FAMILY_INVALID;
  }
  // `1.2.3.4:8080`: an IPv4 hop with a port (exactly one colon, after a dot)
  let colon = -1;
  let colons = 0;
  let dot = -1;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 58) {
      colons++;
      colon = i;
    } else if (c === 46 && dot < 0) dot = i;
  }
  if (colons === 1 && dot >= 0 && dot < colon)
    return isPort(s, colon + 1, end) && parseIpInto(s, out, start, colon) === 4 ? 4 : FAMILY_INVALID;
  return parseIpInto(s, out, start, end);
}

/** 1 to 5 digits: what may follow an address's colon (`1.2.3.4:x,5.6.7.8` is not a hop). */
function isPort(s: string, start: number, end: number): boolean {
  if (end <= start || end - start > 5) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function hasColon(s: string, start: number, end: number): boolean {
  const i = s.indexOf(':', start);
  return i >= 0 && i < end;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}
