import {
  checkJailFields,
  checkJailWhole,
  completeJail,
  type JailInput,
  jailNameProblem,
} from '../jails/fields.js';
import { toBool, toIso, toNum } from './rows.js';

/** A `jails` row as the API shows it: the jail's keys plus the row's id and timestamps. */
export interface StoredJail extends JailInput {
  id: number;
  created_at: string;
  updated_at: string;
}

/** A `jails` row as read (drivers differ in types; rows written by hand may hold anything). */
export interface RawJailRow {
  id: unknown;
  name: string;
  patterns: string | null;
  max_attempts: unknown;
  time_window_seconds: unknown;
  initial_ban_time_seconds: unknown;
  max_ban_time_seconds: unknown;
  escalation_factor: unknown;
  services: string | null;
  weight: string | null;
  source: string | null;
  source_jails: string | null;
  mode: string | null;
  subnet: string | null;
  enabled: unknown;
  created_at: unknown;
  updated_at: unknown;
}

function json(text: string | null, column: string): unknown {
  if (text === null || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${column}: not JSON`);
  }
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : toNum(v));

/**
 * A row checked as the config's jails are: the jail, or why it is refused (the loader skips it
 * and says so; the other rows apply).
 */
export function jailFromRow(r: RawJailRow): { jail: StoredJail } | { error: string } {
  try {
    const bad = jailNameProblem(r.name);
    if (bad) return { error: `name: expected ${bad}` };
    // a bare number is seconds to the duration parser, as the columns are
    const seconds = numOrNull;
    const raw: Record<string, unknown> = {
      patterns: json(r.patterns, 'patterns') ?? [],
      max_attempts: numOrNull(r.max_attempts),
      time_window: seconds(r.time_window_seconds),
      initial_ban_time: seconds(r.initial_ban_time_seconds),
      max_ban_time: seconds(r.max_ban_time_seconds),
      escalation_factor: numOrNull(r.escalation_factor),
      services: json(r.services, 'services') ?? [],
      weight: r.weight ?? 'one',
      source: r.source ?? 'logs',
      source_jails: json(r.source_jails, 'source_jails') ?? [],
      mode: r.mode ?? 'enforce',
      subnet: json(r.subnet, 'subnet') ?? null,
      enabled: toBool(r.enabled),
    };
    const c = checkJailFields(r.name, raw);
    const j = completeJail(c.value);
    const problems = c.problems.length > 0 ? c.problems : checkJailWhole(j);
    if (problems.length > 0)
      return {
        error: problems.map((p) => `${p.field}: expected ${p.expected}, found ${p.found}`).join('; '),
      };
    return {
      jail: { ...j, id: toNum(r.id), created_at: toIso(r.created_at), updated_at: toIso(r.updated_at) },
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const toSeconds = (ms: number | null) => (ms === null ? null : Math.round(ms / 1000));

/** The columns of a jail, to insert or update. */
export function jailValues(j: JailInput) {
  return {
    name: j.name,
    patterns: JSON.stringify(j.patterns),
    max_attempts: j.max_attempts,
    time_window_seconds: toSeconds(j.time_window),
    initial_ban_time_seconds: toSeconds(j.initial_ban_time),
    max_ban_time_seconds: toSeconds(j.max_ban_time),
    escalation_factor: j.escalation_factor,
    services: JSON.stringify(j.services),
    weight: j.weight,
    source: j.source,
    source_jails: JSON.stringify(j.source_jails),
    mode: j.mode,
    subnet: j.subnet
      ? JSON.stringify({
          prefix: j.subnet.prefix,
          addresses: j.subnet.addresses,
          window: toSeconds(j.subnet.window),
        })
      : null,
    enabled: j.enabled,
  };
}
