import { claimOrder, claims } from '../jails/registry.js';
import type { JailSpec } from '../jails/types.js';

/**
 * Which patterns read which lines. A jail with a `logpath` reads those files alone, as a fail2ban
 * jail does: its patterns see no syslog line and no other file's, and other patterns do not see
 * its files. Route 0 is syslog and every file no jail reads; route r > 0 is one logpath entry.
 */
export interface LogRoutes {
  /** Pattern names per route (`[0]`: syslog's). */
  patterns: string[][];
  /** The route of each logpath entry (a path or glob, as the jails write it). */
  paths: ReadonlyMap<string, number>;
}

/** Distinct logpath entries at most, all jails together (each is a file source). */
export const MAX_ROUTES = 256;

/**
 * The routes of `patterns` (names) under `jails`. A pattern belongs to the jail that claims it
 * (the first `source: logs` jail in name order naming it or a glob matching it, as the engine
 * counts it); when that jail has a logpath, the pattern runs on those files' lines only, and when
 * that jail is disabled, nowhere. `dropped` lists logpath entries past MAX_ROUTES.
 */
export function logRoutes(
  jails: readonly JailSpec[],
  patterns: readonly string[],
  /**
   * The route of a logpath entry (≥ 1; distinct entries, distinct routes): by default their
   * order. IngestService keeps an entry's route across reloads, so lines already batched for it
   * never meet another entry's patterns.
   */
  routeOf: (path: string, order: number) => number = (_p, order) => order + 1,
): LogRoutes & { dropped: string[] } {
  const claimers = claimOrder(jails, (j) => j);
  const paths = new Map<string, number>();
  const dropped = new Set<string>();
  let top = 0;
  for (const j of claimers) {
    if (!j.enabled) continue;
    for (const p of j.logpath) {
      if (paths.has(p) || dropped.has(p)) continue;
      if (paths.size < MAX_ROUTES) {
        const r = routeOf(p, paths.size);
        paths.set(p, r);
        top = Math.max(top, r);
      } else dropped.add(p);
    }
  }
  // a route no entry holds any more stays empty: its lines run no pattern
  const out: string[][] = [];
  for (let r = 0; r <= top; r++) out.push([]);
  for (const name of patterns) {
    const owner = claimers.find((j) => claims(j, name));
    if (owner === undefined || owner.logpath.length === 0) {
      out[0].push(name);
      continue;
    }
    // a disabled jail's patterns count nowhere: they need not run either
    if (!owner.enabled) continue;
    for (const p of owner.logpath) {
      const r = paths.get(p);
      if (r !== undefined) out[r].push(name);
    }
  }
  return { patterns: out, paths, dropped: [...dropped] };
}
