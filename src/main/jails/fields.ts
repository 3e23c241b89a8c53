import { MAX_SERVICES, normalizeService } from '../../shared/bantable/services.js';
import { parseDuration } from '../config/duration.js';
import { editDistance } from '../config/schema.js';
import { DEFAULT_JAIL, type JailMode, type JailSource, type JailWeight } from './types.js';

/**
 * One jail as written: in the config file (`jails.<name>`), in a `jails` row, or in an API body,
 * all with the same snake_case keys. Durations are milliseconds; a null number means "the `ban:`
 * value" (resolved later, see resolve.ts), so a jail follows the ban policy it does not override.
 */
export interface JailInput {
  name: string;
  enabled: boolean;
  patterns: string[];
  max_attempts: number | null;
  time_window: number | null;
  initial_ban_time: number | null;
  max_ban_time: number | null;
  escalation_factor: number | null;
  services: string[];
  weight: JailWeight;
  source: JailSource;
  source_jails: string[];
  mode: JailMode;
  subnet: SubnetInput | null;
  /** Log files (absolute paths or globs) whose lines alone the jail's patterns read; config file only. */
  logpath: string[];
}

export interface SubnetInput {
  prefix: number;
  addresses: number;
  /** Null: the jail's own time_window. */
  window: number | null;
}

/** The keys of a jail, in the order the docs and the example list them. */
export const JAIL_FIELDS = [
  'patterns',
  'max_attempts',
  'time_window',
  'initial_ban_time',
  'max_ban_time',
  'escalation_factor',
  'enabled',
  'services',
  'weight',
  'source',
  'source_jails',
  'mode',
  'subnet',
  'logpath',
] as const;

export const SUBNET_FIELDS = ['prefix', 'addresses', 'window'] as const;

/** Bounds on what one jail may list (hostile or mistaken input must not grow without end). */
export const MAX_JAIL_PATTERNS = 1000;
export const MAX_SOURCE_JAILS = 100;
export const MAX_JAILS = 1000;
export const MAX_JAIL_NAME = 64;
export const MAX_LOGPATHS = 64;
const MAX_PATH = 4096;
const MAX_GLOB = 255;

/** Letters, digits, `-`, `_`, `.`: fail2ban's jail names (`nginx-http-auth`, `postfix-sasl`). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A field at fault: its key inside the jail (`subnet.prefix`, `services[1]`) and what was expected. */
export interface JailProblem {
  field: string;
  expected: string;
  found: string;
  /** The known key an unknown one is probably a typo of. */
  hint?: string;
}

/** The jail key `k` is one or two letters off, if any. */
function closestKey(k: string): string | undefined {
  if (k.length > 64) return undefined;
  let best: string | undefined;
  let bestD = 3;
  for (const f of JAIL_FIELDS) {
    const d = editDistance(k, f);
    if (d < bestD) {
      bestD = d;
      best = f;
    }
  }
  return best;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 80 ? `${s.slice(0, 77)}...` : s}`;
}

/** Null when `name` may name a jail, else what is wrong with it. */
export function jailNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'a non-empty name';
  if (name.length > MAX_JAIL_NAME || !NAME_RE.test(name))
    return `a name of letters, digits, -, _ and . (at most ${MAX_JAIL_NAME})`;
  if (name.toLowerCase() === DEFAULT_JAIL)
    return `a name other than "${DEFAULT_JAIL}" (reserved: the jail of the ban: policy)`;
  return null;
}

/**
 * Checks one jail's fields. `partial`: an API PUT, where absent fields are left out of the result
 * instead of taking their defaults. Unknown keys are problems (a typo must not pass silently).
 */
export function checkJailFields(
  name: string,
  raw: unknown,
  partial = false,
  /** The config file: `logpath` makes the process read files, so only its owner may set it. */
  fromFile = false,
): { value: Partial<JailInput>; problems: JailProblem[] } {
  const problems: JailProblem[] = [];
  const out: Partial<JailInput> = { name };
  const bad = (field: string, expected: string, v: unknown) =>
    problems.push({ field, expected, found: describe(v) });
  const body: unknown = raw ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    bad('', 'a mapping of jail keys', body);
    return { value: out, problems };
  }
  // no prototype: a `__proto__` key is a key like any other (and an unknown one)
  const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) o[k.toLowerCase()] = v;
  for (const k of Object.keys(o))
    if (!(JAIL_FIELDS as readonly string[]).includes(k) && k !== 'name')
      problems.push({
        field: k,
        expected: `one of the jail keys ${JAIL_FIELDS.join(', ')}`,
        found: 'an unknown key',
        hint: closestKey(k),
      });
  // null: the default (for numbers and durations, the `ban:` value)
  const has = (k: string) => o[k] !== undefined;

  const strings = (k: string, max: number, check: (s: string) => string | null): string[] | undefined => {
    let v = o[k];
    if (v === null) v = [];
    if (typeof v === 'string') v = [v];
    if (!Array.isArray(v)) {
      bad(k, 'a list of strings', v);
      return undefined;
    }
    if (v.length > max) {
      bad(k, `at most ${max} entries`, `${v.length}`);
      return undefined;
    }
    const seen = new Set<string>();
    const xs: string[] = [];
    for (let i = 0; i < v.length; i++) {
      const s = v[i];
      const norm = typeof s === 'string' ? check(s) : null;
      if (norm === null) {
        bad(`${k}[${i}]`, expectedOf[k] ?? 'a string', s);
        continue;
      }
      if (!seen.has(norm)) xs.push(norm);
      seen.add(norm);
    }
    return xs;
  };
  const expectedOf: Record<string, string> = {
    patterns: `a pattern name or glob (sshd-*), at most ${MAX_GLOB} characters`,
    services: 'a service name (letters, digits, -, _; at most 32), such as ssh, imap, smtp, http',
    source_jails: 'a jail name',
    logpath: 'an absolute path or glob (/var/log/auth.log, /var/log/nginx/*.log)',
  };

  if (has('patterns'))
    out.patterns = strings('patterns', MAX_JAIL_PATTERNS, (s) =>
      s.trim() !== '' && s.length <= MAX_GLOB ? s.trim() : null,
    );
  else if (!partial) out.patterns = [];
  if (has('services')) out.services = strings('services', MAX_SERVICES, (s) => normalizeService(s));
  else if (!partial) out.services = [];
  if (has('source_jails'))
    out.source_jails = strings('source_jails', MAX_SOURCE_JAILS, (s) =>
      s.length <= MAX_JAIL_NAME && NAME_RE.test(s) ? s : null,
    );
  else if (!partial) out.source_jails = [];
  const noFiles = o.logpath === null || (Array.isArray(o.logpath) && o.logpath.length === 0);
  if (has('logpath') && !fromFile && !noFiles)
    bad('logpath', 'no logpath here (only the config file sets which files a jail reads)', o.logpath);
  else if (has('logpath'))
    out.logpath = strings('logpath', MAX_LOGPATHS, (s) =>
      s.startsWith('/') && s.length <= MAX_PATH && !s.includes('\0') ? s : null,
    );
  else if (!partial) out.logpath = [];

  if (has('enabled')) {
    if (typeof o.enabled === 'boolean') out.enabled = o.enabled;
    else bad('enabled', 'true or false', o.enabled);
  } else if (!partial) out.enabled = true;

  const num = (k: 'max_attempts' | 'escalation_factor') => {
    const v = o[k];
    if (v === null) {
      out[k] = null;
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad(k, 'a number', v);
    if (k === 'max_attempts') {
      if (!Number.isInteger(v) || v < 1 || v > 1_000_000) return bad(k, 'a whole number 1..1000000', v);
    } else if (!(v > 1) || v > 100) return bad(k, 'a number greater than 1 (at most 100)', v);
    out[k] = v;
  };
  const dur = (k: 'time_window' | 'initial_ban_time' | 'max_ban_time') => {
    const v = o[k];
    if (v === null) {
      out[k] = null;
      return;
    }
    const ms = parseDuration(v);
    if (ms === null || !(ms > 0))
      return bad(k, 'a positive duration such as 30s, 5m, 1h30m (a bare number is seconds)', v);
    out[k] = ms;
  };
  for (const k of ['max_attempts', 'escalation_factor'] as const)
    if (has(k)) num(k);
    else if (!partial) out[k] = null;
  for (const k of ['time_window', 'initial_ban_time', 'max_ban_time'] as const)
    if (has(k)) dur(k);
    else if (!partial) out[k] = null;

  const choice = <T extends string>(k: string, options: Record<string, T>, dflt: T): T | undefined => {
    const v = o[k];
    if (!has(k)) return partial ? undefined : dflt;
    if (v === null) return dflt;
    const s = typeof v === 'string' || typeof v === 'number' ? String(v).toLowerCase() : null;
    if (s !== null && Object.hasOwn(options, s)) return options[s];
    bad(k, `one of ${Object.keys(options).join(', ')}`, v);
    return undefined;
  };
  const weight = choice<JailWeight>('weight', { '1': 'one', one: 'one', severity: 'severity' }, 'one');
  if (weight) out.weight = weight;
  const source = choice<JailSource>('source', { logs: 'logs', bans: 'bans' }, 'logs');
  if (source) out.source = source;
  const mode = choice<JailMode>('mode', { enforce: 'enforce', shadow: 'shadow' }, 'enforce');
  if (mode) out.mode = mode;

  if (has('subnet')) {
    const s = checkSubnet(o.subnet);
    for (const p of s.problems) problems.push({ ...p, field: p.field ? `subnet.${p.field}` : 'subnet' });
    if (s.problems.length === 0) out.subnet = s.value;
  } else if (!partial) out.subnet = null;
  return { value: out, problems };
}

function checkSubnet(v: unknown): { value: SubnetInput | null; problems: JailProblem[] } {
  const problems: JailProblem[] = [];
  if (v === null || v === false) return { value: null, problems };
  if (typeof v !== 'object' || Array.isArray(v)) {
    problems.push({ field: '', expected: 'a mapping {prefix, addresses, window}', found: describe(v) });
    return { value: null, problems };
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(SUBNET_FIELDS as readonly string[]).includes(k))
      problems.push({ field: k, expected: `one of ${SUBNET_FIELDS.join(', ')}`, found: 'an unknown key' });
  const prefix = o.prefix ?? 24;
  if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < 8 || prefix > 31)
    problems.push({ field: 'prefix', expected: 'an IPv4 prefix length 8..31', found: describe(prefix) });
  const addresses = o.addresses;
  if (typeof addresses !== 'number' || !Number.isInteger(addresses) || addresses < 2 || addresses > 65536)
    problems.push({ field: 'addresses', expected: 'a whole number 2..65536', found: describe(addresses) });
  let window: number | null = null;
  if (o.window !== undefined && o.window !== null) {
    const ms = parseDuration(o.window);
    if (ms === null || !(ms > 0))
      problems.push({
        field: 'window',
        expected: 'a positive duration such as 1h',
        found: describe(o.window),
      });
    else window = ms;
  }
  return { value: { prefix: prefix as number, addresses: addresses as number, window }, problems };
}

/** Cross-field checks once the jail is complete (its own values; the `ban:` ones come later). */
export function checkJailWhole(j: JailInput): JailProblem[] {
  const out: JailProblem[] = [];
  if (j.max_ban_time !== null && j.initial_ban_time !== null && j.max_ban_time < j.initial_ban_time)
    out.push({
      field: 'max_ban_time',
      expected: 'at least initial_ban_time',
      found: `${j.max_ban_time} ms`,
    });
  if (j.source === 'bans' && j.patterns.length > 0)
    out.push({
      field: 'patterns',
      expected: 'no patterns for a jail with source: bans (it counts the bans of other jails)',
      found: 'a list',
    });
  if (j.source_jails.length > 0 && j.source !== 'bans')
    out.push({ field: 'source_jails', expected: 'only with source: bans', found: 'a list' });
  if (j.logpath.length > 0 && j.source === 'bans')
    out.push({ field: 'logpath', expected: 'no logpath for a jail with source: bans', found: 'a list' });
  if (j.source_jails.includes(j.name))
    out.push({ field: 'source_jails', expected: 'other jails than itself', found: JSON.stringify(j.name) });
  return out;
}

/** A complete jail from a full (non-partial) check. */
export function completeJail(v: Partial<JailInput>): JailInput {
  return {
    name: v.name ?? '',
    enabled: v.enabled ?? true,
    patterns: v.patterns ?? [],
    max_attempts: v.max_attempts ?? null,
    time_window: v.time_window ?? null,
    initial_ban_time: v.initial_ban_time ?? null,
    max_ban_time: v.max_ban_time ?? null,
    escalation_factor: v.escalation_factor ?? null,
    services: v.services ?? [],
    weight: v.weight ?? 'one',
    source: v.source ?? 'logs',
    source_jails: v.source_jails ?? [],
    mode: v.mode ?? 'enforce',
    subnet: v.subnet ?? null,
    logpath: v.logpath ?? [],
  };
}
