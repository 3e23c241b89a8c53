import type { BanPolicy } from '../engine/types.js';
import type { JailInput } from './fields.js';
import type { JailSpec } from './types.js';

/** The `ban:` values a jail falls back on for what it does not set. */
export type JailDefaults = Pick<
  BanPolicy,
  'maxAttempts' | 'timeWindow' | 'initialBanTime' | 'maxBanTime' | 'escalationFactor'
>;

/**
 * A jail with its unset numbers taken from the `ban:` policy. The longest ban is raised to the
 * first one when only the first was set longer (a one-week recidive jail under a 24 h `ban:`
 * maximum means one week, not an error).
 */
export function resolveJail(j: JailInput, d: JailDefaults, origin: JailSpec['origin']): JailSpec {
  const initialBanTime = j.initial_ban_time ?? d.initialBanTime;
  const timeWindow = j.time_window ?? d.timeWindow;
  return {
    name: j.name,
    enabled: j.enabled,
    patterns: [...j.patterns],
    maxAttempts: j.max_attempts ?? d.maxAttempts,
    timeWindow,
    initialBanTime,
    maxBanTime: j.max_ban_time ?? Math.max(d.maxBanTime, initialBanTime),
    escalationFactor: j.escalation_factor ?? d.escalationFactor,
    services: [...j.services],
    weight: j.weight,
    source: j.source,
    sourceJails: [...j.source_jails],
    mode: j.mode,
    subnet: j.subnet
      ? { prefixV4: j.subnet.prefix, addresses: j.subnet.addresses, window: j.subnet.window ?? timeWindow }
      : null,
    logpath: [...j.logpath],
    origin,
  };
}

/**
 * The jails in force: the config file's and the database's, the database's winning on a name both
 * have, in name order (the order in which jails claim patterns).
 */
export function mergeJails(config: readonly JailSpec[], database: readonly JailSpec[]): JailSpec[] {
  const byName = new Map<string, JailSpec>();
  for (const j of config) byName.set(j.name, j);
  for (const j of database) byName.set(j.name, j);
  return [...byName.values()].sort(byName_);
}

function byName_(a: JailSpec, b: JailSpec): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Same jails, field for field (a reload that changes nothing delivers nothing). */
export function sameJails(a: readonly JailSpec[], b: readonly JailSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) return false;
  return true;
}

/**
 * `*` (any run of characters) and `?` (one) against a pattern name, without a regex: a
 * two-pointer walk that backs up to the last star, linear in practice and never exponential.
 */
export function globMatch(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === name[n])) {
      g++;
      n++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      mark = n;
    } else if (star >= 0) {
      g = star + 1;
      n = ++mark;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

/** A pattern two jails claim: `jail` (first by name) has it, `other` does not. */
export interface ClaimConflict {
  pattern: string;
  jail: string;
  other: string;
}

/**
 * Which enabled log jail claims each pattern (first by name order wins), and the conflicts: the
 * patterns a later jail also claims. Patterns no jail claims are absent (the `default` jail).
 */
export function claimPatterns(
  jails: readonly JailSpec[],
  patternNames: readonly string[],
): { owner: Map<string, string>; conflicts: ClaimConflict[] } {
  const owner = new Map<string, string>();
  const conflicts: ClaimConflict[] = [];
  const sorted = [...jails].filter((j) => j.enabled && j.source === 'logs').sort(byName_);
  for (const p of patternNames) {
    for (const j of sorted) {
      if (!j.patterns.some((g) => globMatch(g, p))) continue;
      const first = owner.get(p);
      if (first === undefined) owner.set(p, j.name);
      else conflicts.push({ pattern: p, jail: first, other: j.name });
    }
  }
  return { owner, conflicts };
}

/** The warning said once per conflict. */
export function conflictText(c: ClaimConflict): string {
  return `pattern ${JSON.stringify(c.pattern)} is claimed by jails ${JSON.stringify(c.jail)} and ${JSON.stringify(c.other)}: ${JSON.stringify(c.jail)} (first by name) has it`;
}
