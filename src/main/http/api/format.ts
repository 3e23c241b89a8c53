import { parseDuration } from '../../config/duration.js';
import type { BanRecord } from '../../engine/types.js';

/** Longest ban the API accepts (10 years): anything longer is a typo, a permanent ban is `permanent: true`. */
export const MAX_API_DURATION_MS = 10 * 365 * 24 * 3600 * 1000;

/** Go's time.Duration text (`30m0s`, `1h30m0s`, `1.5s`), as the reference's messages print it. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${Number(rest.toFixed(3))}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Number((rest / 1000).toFixed(3));
  let out = '';
  if (h) out += `${h}h${m}m`;
  else if (m) out += `${m}m`;
  out += `${s}s`;
  return (neg ? '-' : '') + out;
}

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
  };
}
