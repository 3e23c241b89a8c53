import type { PatternSpec } from '../../shared/patterns/compile.js';
import { effectivePatterns } from '../../shared/patterns/presets/index.js';
import {
  checkJailFields,
  checkJailWhole,
  completeJail,
  type JailInput,
  jailNameProblem,
  MAX_JAILS,
} from './fields.js';
import { claimPatterns, conflictText, type JailDefaults, resolveJail } from './resolve.js';
import type { JailSpec } from './types.js';

/** A problem in the `jails:` section: the dotted key (`jails.sshd.max_attempts`) and what was wrong. */
export interface JailSectionProblem {
  key: string;
  expected: string;
  found: string;
  hint?: string;
}

/**
 * The `jails:` section of the config file: a mapping of jail name to its keys. Every problem is
 * listed with its full key (the loader adds the file and line); valid jails are returned as
 * written, to be resolved against `ban:` once the whole file (and the environment) is read.
 */
export function checkJailsSection(v: unknown): { jails: JailInput[]; problems: JailSectionProblem[] } {
  const problems: JailSectionProblem[] = [];
  const jails: JailInput[] = [];
  if (v === null || v === undefined) return { jails, problems };
  if (typeof v !== 'object' || Array.isArray(v)) {
    problems.push({
      key: 'jails',
      expected: 'a mapping of jail name to its keys (jails: {sshd: {patterns: [sshd-*]}})',
      found: Array.isArray(v) ? 'a list' : `${typeof v}`,
    });
    return { jails, problems };
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_JAILS) {
    problems.push({ key: 'jails', expected: `at most ${MAX_JAILS} jails`, found: `${entries.length}` });
    return { jails, problems };
  }
  const seen = new Set<string>();
  for (const [name, body] of entries) {
    const key = `jails.${name}`;
    const bad = jailNameProblem(name);
    if (bad) {
      problems.push({ key, expected: bad, found: JSON.stringify(name) });
      continue;
    }
    // YAML keys are case-sensitive, jail names are not: `SSHD` and `sshd` would be one jail
    if (seen.has(name.toLowerCase())) {
      problems.push({ key, expected: 'a name not used by another jail', found: JSON.stringify(name) });
      continue;
    }
    seen.add(name.toLowerCase());
    const r = checkJailFields(name, body, false, true);
    const at = (f: string) => (f ? `${key}.${f}` : key);
    for (const p of r.problems)
      problems.push({ key: at(p.field), expected: p.expected, found: p.found, hint: p.hint });
    if (r.problems.length > 0) continue;
    const j = completeJail(r.value);
    const whole = checkJailWhole(j);
    for (const p of whole) problems.push({ key: at(p.field), expected: p.expected, found: p.found });
    if (whole.length === 0) jails.push(j);
  }
  return { jails, problems };
}

/** The `ban:` section's values in the shape jails fall back on. */
export function defaultsOfBan(ban: {
  max_attempts: number;
  time_window: number;
  initial_ban_time: number;
  max_ban_time: number;
  escalation_factor: number;
}): JailDefaults {
  return {
    maxAttempts: ban.max_attempts,
    timeWindow: ban.time_window,
    initialBanTime: ban.initial_ban_time,
    maxBanTime: ban.max_ban_time,
    escalationFactor: ban.escalation_factor,
  };
}

/**
 * The config's jails resolved (name order), and a warning per pattern two of them claim, against
 * the patterns the config runs (its own, or the built-in presets).
 */
export function resolveConfigJails(
  inputs: readonly JailInput[],
  defaults: JailDefaults,
  patterns: readonly PatternSpec[],
): { jails: JailSpec[]; warnings: string[] } {
  const jails = inputs
    .map((j) => resolveJail(j, defaults, 'config'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = effectivePatterns(patterns).map((p) => p.name);
  const { conflicts } = claimPatterns(jails, names);
  return { jails, warnings: conflicts.map(conflictText) };
}
