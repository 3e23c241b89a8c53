import { goDuration, parseDuration } from '../../config/duration.js';

export { goDuration };

import type { BanRecord } from '../../engine/types.js';

/** Longest ban the API accepts (10 years): anything longer is a typo, a permanent ban is `permanent: true`. */
export const MAX_API_DURATION_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * A `duration` from a request body: a Go duration string (`"1h30m"`) or a number of seconds.
 * Returns ms, 0 for "not given" (the escalation schedule decides), or an error text.
 */
export function durationFromBody(v: unknown): number | string {
  if (v === undefined || v === null || v === 0 || v === '') return 0;
  let ms: number | null;
  if (typeof v === 'number') ms = Number.isFinite(v) ? v * 1000 : null;
  else ms = parseDuration(v);
  if (ms === null) return 'must be a duration such as "1h30m" or a number of seconds';
  if (ms < 0) return 'must not be negative';
  if (ms > MAX_API_DURATION_MS) return 'must be at most 10 years (use permanent: true for a permanent ban)';
  return ms;
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A list entry as the reference's GET /api/whitelist and /api/blacklist show it. */
export function listItem(r: BanRecord): Record<string, unknown> {
  return {
    ip_address: r.target,
    reason: r.reason || undefined,
    created_at: iso(r.createdAt),
    created_by: r.createdBy,
  };
}

/** A temporary ban for GET /api/temp-bans: durations as text and as seconds. */
export function tempItem(r: BanRecord, now: number): Record<string, unknown> {
  const left = Math.max(0, (r.expiresAt ?? now) - now);
  return {
    ip_address: r.target,
    expires_at: iso(r.expiresAt),
    duration_remaining: goDuration(Math.round(left / 1000) * 1000),
    duration_remaining_seconds: Math.round(left / 1000),
    reason: r.reason,
    pattern: r.pattern,
    offences: r.offences,
    created_at: iso(r.createdAt),
    created_by: r.createdBy,
    node: r.node,
    jail: r.jail ?? 'default',
    services: r.services ?? [],
    ...(r.shadow ? { shadow: true } : {}),
  };
}
