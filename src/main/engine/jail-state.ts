import type { BanTable } from '../../shared/bantable/index.js';
import { Kind } from '../../shared/bantable/index.js';
import { DEFAULT_JAIL, type JailSpec } from '../jails/types.js';
import { TempBans } from './records.js';
import type { StringPool } from './strings.js';
import { FailureTrackers } from './trackers.js';
import type { BanPolicy } from './types.js';

/** Fewest counting slots a jail gets when `ban.max_tracked` is split between many. */
const MIN_TRACKED_PER_JAIL = 1024;

/**
 * One jail's state in the engine: its policy, its failure counts and its temporary bans (one
 * row per target). The default jail's policy is the `ban:` section, read live.
 */
export class JailState {
  spec: JailSpec | null;
  trackers: FailureTrackers;
  readonly temp: TempBans;
  /** Ids of `services` in the ban table's registry, as a bit mask; 0 = every service. */
  mask = 0;
  services: string[] = [];
  shadow = false;
  /** Counts failures from log lines (enabled, `source: logs`); a removed jail keeps only its bans. */
  counting = true;
  /** No longer configured: kept while it holds bans. */
  removed = false;

  constructor(
    readonly name: string,
    strings: StringPool,
    private readonly defaultPolicy: () => BanPolicy,
    capacity: number,
    spec: JailSpec | null,
  ) {
    this.spec = spec;
    this.temp = new TempBans(strings, name);
    const p = this.policy();
    this.trackers = new FailureTrackers(capacity, p.maxAttempts, p.timeWindow);
  }

  /** The jail's escalation and counting policy (`ban:` for the default jail). */
  policy(): Pick<
    BanPolicy,
    'initialBanTime' | 'maxBanTime' | 'escalationFactor' | 'maxAttempts' | 'timeWindow'
  > {
    const s = this.spec;
    if (s === null || this.name === DEFAULT_JAIL) return this.defaultPolicy();
    return s;
  }

  /** Ban n of this jail lasts min(initial × factor^(n−1), max). */
  durationFor(n: number): number {
    const p = this.policy();
    return Math.min(p.initialBanTime * p.escalationFactor ** Math.max(0, n - 1), p.maxBanTime);
  }

  /**
   * Takes a (new) spec: its services registered in the table, its trackers re-sized or
   * re-windowed. Counts are kept when the window is unchanged: then the trackers are re-sized only
   * while they hold nothing (a reload does not wipe live counts to move a memory share).
   */
  configure(spec: JailSpec | null, table: BanTable, capacity: number): void {
    const oldWindow = this.policy().timeWindow;
    this.spec = spec;
    this.removed = false;
    this.services = spec ? [...new Set(spec.services)] : [];
    this.mask = maskOf(table, this.services);
    this.shadow = spec?.mode === 'shadow';
    this.counting = spec === null || (spec.enabled && spec.source !== 'bans');
    const p = this.policy();
    const resize = this.trackers.capacity !== Math.max(1, Math.floor(capacity)) && this.trackers.size === 0;
    if (resize || p.timeWindow !== oldWindow)
      this.trackers = new FailureTrackers(capacity, p.maxAttempts, p.timeWindow);
    else this.trackers.setPolicy(p.maxAttempts, p.timeWindow);
  }
}

/** The mask of some service names (registered in the table's registry now if new). */
export function maskOf(table: BanTable, services: readonly string[]): number {
  let m = 0;
  for (const s of services) m |= 1 << table.services.register(s);
  return m >>> 0;
}

/**
 * Counting slots per jail: `ban.max_tracked` split evenly between the jails that count (the
 * default one included), at least MIN_TRACKED_PER_JAIL each (and never more than max_tracked),
 * so the memory bound stays about max_tracked whatever the number of jails.
 */
export function trackedPerJail(maxTracked: number, countingJails: number): number {
  if (countingJails <= 1) return maxTracked;
  return Math.min(maxTracked, Math.max(MIN_TRACKED_PER_JAIL, Math.floor(maxTracked / countingJails)));
}

/**
 * The ban table's entries for one key from the jails' bans of it: the unscoped entry (when
 * `unscoped`) holds the latest expiry among the bans that cover every service, each service of
 * `mask` the latest among the bans that cover it; an entry nothing covers any more goes. `b` is
 * scratch space (16 bytes): `bytes` may be a row's shared key buffer.
 */
export function syncScopes(
  table: BanTable,
  states: readonly JailState[],
  b: Uint8Array,
  bytes: Uint8Array,
  family: 4 | 6,
  prefixLen: number,
  mask: number,
  unscoped: boolean,
): void {
  const n = family === 4 ? 4 : 16;
  for (let i = 0; i < n; i++) b[i] = bytes[i];
  for (let bit = unscoped ? -1 : 0; bit < 32; bit++) {
    const want = bit < 0 ? 0 : 1 << bit;
    if (bit >= 0 && (mask & want) === 0) continue;
    let best: TempBans | null = null;
    let bestRow = -1;
    for (let i = 0; i < states.length; i++) {
      const t = states[i].temp;
      if (t.size === 0) continue;
      const r = t.find(b, family, prefixLen);
      if (r < 0 || t.isShadow(r)) continue;
      const m = t.maskOf(r);
      if (bit < 0 ? m !== 0 : (m & want) === 0) continue;
      if (best === null || t.expiresAt(r) > best.expiresAt(bestRow)) {
        best = t;
        bestRow = r;
      }
    }
    if (best === null) {
      if (bit < 0) table.delete(b, family, prefixLen, Kind.TEMP_BAN);
      else table.deleteScoped(bit, b, family, prefixLen);
      continue;
    }
    const exp = Math.ceil(best.expiresAt(bestRow) / 1000);
    const reasonId = table.reasonId(best.pattern(bestRow) ?? 'manual');
    if (bit < 0) table.set(b, family, prefixLen, Kind.TEMP_BAN, exp, best.offencesOf(bestRow), reasonId);
    else table.setScoped(bit, b, family, prefixLen, exp, best.offencesOf(bestRow), reasonId);
  }
}
