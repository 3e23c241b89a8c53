import { Kind, type LookupResult } from './bantable/api.js';

/**
 * What the three proxy fronts (HAProxy SPOP, Envoy ext_authz, Nginx auth_request) say about a
 * denied client. The texts are the reference's: users match on them in proxy configs and log
 * parsers, so every front takes them from here.
 */

/** The fixed reason (X-Fail2ban-Reason, deny bodies) when the ban has none of its own. */
export const DENY_REASON = 'IP banned due to suspicious activity';
/** Envoy's gRPC status message for a denial. */
export const DENY_MESSAGE = 'IP is banned due to suspicious activity';
/** Reason given when the request carries no usable client address (missing_ip_policy: deny). */
export const MISSING_REASON = 'no usable client address';
/** X-Fail2ban-IP when there is no usable client address. */
export const UNKNOWN_IP = 'unknown-ip';
/** X-Fail2ban-Status values. */
export const STATUS_ALLOWED = 'allowed';
export const STATUS_DENIED = 'denied';

/** Longest ban reason sent in a header. */
const REASON_MAX_LEN = 200;

/**
 * A ban reason as a header value: printable ASCII only (CR, LF, controls and non-ASCII become
 * `?`, so the header cannot be split or refused by node), trimmed and bounded. `"` and `\\`
 * become `'` and `/`: configs that paste the header into a JSON string stay valid JSON.
 */
export function headerSafeReason(text: string | null | undefined): string {
  if (!text) return '';
  let out = '';
  const n = Math.min(text.length, REASON_MAX_LEN);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    out += c === 34 ? "'" : c === 92 ? '/' : c >= 0x20 && c < 0x7f ? text[i] : '?';
  }
  return out.trim();
}

/** HAProxy's `ban_reason` when the ban recorded no reason. */
export function fallbackReason(kind: number): string {
  return kind === Kind.BLACKLIST ? 'blacklisted' : 'banned';
}

/** The JSON deny body (nginx.return_json). `found`: the lookup that denied, null for no address. */
export function denyJsonBody(reason: string, ip: string, found: LookupResult | null): string {
  return JSON.stringify({
    error: 'access_denied',
    reason,
    ip,
    kind:
      found === null
        ? null
        : found.kind === Kind.BLACKLIST
          ? 'blacklist'
          : found.kind === Kind.TEMP_BAN
            ? 'temp'
            : null,
    expires_at: found?.expiresAt ? new Date(found.expiresAt * 1000).toISOString() : null,
  });
}

/** The plain-text deny body. */
export function denyTextBody(reason: string): string {
  return `Access denied: ${reason}\n`;
}
