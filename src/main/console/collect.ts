import type { Registry } from 'prom-client';
import { SERIES } from './samples.js';

interface Reading {
  labels: Record<string, string | number | undefined>;
  value: number;
}

async function readings(registry: Registry, name: string): Promise<Reading[]> {
  const m = registry.getSingleMetric(name);
  if (!m) return [];
  const got = await m.get();
  return got.values as Reading[];
}

const sum = (rs: Reading[]) => rs.reduce((a, r) => a + r.value, 0);

/** Totals read from the process's own metrics: what the console's per-second rates come from. */
export interface Totals {
  /** Index by SERIES position; rates are derived from the difference of two totals. */
  values: Float64Array;
  /** Pattern name → matches so far. */
  patterns: Map<string, number>;
}

/** Index of the gauge among SERIES: it is charted as a level, not a rate. */
export const ACTIVE_BANS = SERIES.indexOf('active_bans');

/**
 * One reading of the counters the console charts, from the metrics registry, so the console
 * knows no subsystem's internals and costs a handful of metric reads per second.
 */
export async function readTotals(registry: Registry): Promise<Totals> {
  const values = new Float64Array(SERIES.length);
  const requests = await readings(registry, 'fail2ban_requests_total');
  for (const r of requests) {
    const service = String(r.labels.service ?? '');
    const result = String(r.labels.result ?? '');
    const proxy = service === 'haproxy' || service === 'nginx' || service === 'envoy' ? service : null;
    if (proxy === null) continue;
    const verdict = result === 'allowed' ? 'allowed' : result === 'denied' ? 'denied' : null;
    if (verdict === null) continue;
    values[SERIES.indexOf(`${proxy}_${verdict}`)] += r.value;
  }
  values[SERIES.indexOf('syslog_lines')] = sum(await readings(registry, 'edgeban_syslog_lines_total'));
  values[SERIES.indexOf('syslog_shed')] = sum(await readings(registry, 'edgeban_syslog_shed_lines_total'));
  const matches = await readings(registry, 'fail2ban_pattern_matches_total');
  values[SERIES.indexOf('matches')] = sum(matches);
  values[SERIES.indexOf('bans')] = sum(await readings(registry, 'fail2ban_bans_total'));
  values[ACTIVE_BANS] = sum(await readings(registry, 'fail2ban_current_bans'));
  const patterns = new Map<string, number>();
  for (const r of matches) {
    const p = String(r.labels.pattern ?? '');
    patterns.set(p, (patterns.get(p) ?? 0) + r.value);
  }
  return { values, patterns };
}

/** Per-second rates between two readings `dtMs` apart (a counter reset reads as 0). */
export function rates(prev: Totals, cur: Totals, dtMs: number, out: Float64Array): Float64Array {
  const dt = Math.max(dtMs, 1) / 1000;
  for (let i = 0; i < SERIES.length; i++) {
    out[i] = i === ACTIVE_BANS ? cur.values[i] : Math.max(0, cur.values[i] - prev.values[i]) / dt;
  }
  return out;
}
