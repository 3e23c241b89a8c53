import type { BanEngine } from '../engine/index.js';
import { DEFAULT_JAIL } from '../engine/types.js';
import { defaultJail } from '../jails/default-jail.js';
import type { Console } from './console.js';

/** One jail as the console's jails view shows it. */
export interface ConsoleJail {
  name: string;
  enabled: boolean;
  mode: 'enforce' | 'shadow';
  source: 'logs' | 'bans';
  max_attempts: number;
  time_window_seconds: number;
  initial_ban_time_seconds: number;
  services: string[];
  /** Temporary bans it holds now (a shadow jail's would-be bans for a shadow jail). */
  active_bans: number;
  /** Bans it made in the last hour (this node's and the fleet's). */
  bans_last_hour: number;
  /** Matches per second of the patterns it owns, over the last minute. */
  matches_per_second: number;
  /** Its pattern names and globs, as configured. */
  patterns: string[];
  top_offenders: { ip_address: string; bans: number }[];
}

const TOP = 5;

/**
 * The jails view: each configured jail and the default one, from the engine's jails and the
 * console's own counts; each pattern's match rate is added to the jail that owns it now.
 */
export function jailRows(engine: BanEngine, c: Console): ConsoleJail[] {
  const specs = [...engine.getJails()];
  if (!specs.some((j) => j.name === DEFAULT_JAIL)) {
    specs.push(defaultJail(engine.getPolicy()));
  }
  const rate = new Map<string, number>();
  for (const [pattern, perSecond] of c.patternRates) {
    const jail = engine.jailOfPattern(pattern);
    if (jail === null) continue;
    rate.set(jail, (rate.get(jail) ?? 0) + perSecond);
  }
  const recent = c.recent.byJail(TOP);
  return specs
    .map((j) => ({
      name: j.name,
      enabled: j.enabled,
      mode: j.mode,
      source: j.source,
      max_attempts: j.maxAttempts,
      time_window_seconds: Math.round(j.timeWindow / 1000),
      initial_ban_time_seconds: Math.round(j.initialBanTime / 1000),
      services: j.services,
      active_bans: engine.tempBansOf(j.name),
      bans_last_hour: recent.get(j.name)?.bans ?? 0,
      matches_per_second: rate.get(j.name) ?? 0,
      patterns: j.patterns,
      top_offenders: recent.get(j.name)?.offenders ?? [],
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
