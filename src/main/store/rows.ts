import { EdgebanError } from '../../shared/errors.js';
import { canonicalTarget } from '../../shared/ip/cidr.js';
import type { PatternSpec } from '../../shared/patterns/compile.js';
import { PatternError } from '../../shared/patterns/errors.js';
import { ipGroupIndex, namedGroupIndex } from '../../shared/patterns/groups.js';
import type { BanPolicy, BanRecord, OffenceRecord } from '../engine/types.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import type { ListName } from './schema.js';
import type { BanConfigRow, PatternRow } from './types.js';

/** A ban_config row edgeban refuses (`E_BAN_CONFIG`): the reference system's validation rules. */
export class BanConfigError extends EdgebanError {
  constructor(name: string, why: string) {
    super('E_BAN_CONFIG', `ban_config ${JSON.stringify(name)}: ${why}`);
  }
}

export function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) !== 0;
  if (typeof v === 'string') return v === '1' || v.toLowerCase() === 'true' || v.toLowerCase() === 't';
  return false;
}

/** Unix ms of a timestamp column: Date (pg, mysql), `YYYY-MM-DD HH:MM:SS` UTC text (SQLite), or a number. */
export function toMs(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    if (/^-?\d+$/.test(v)) return Number(v);
    const iso = v.includes('T') ? v : v.replace(' ', 'T');
    const t = Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export function toIso(v: unknown): string {
  const ms = toMs(v);
  return ms === null ? '' : new Date(ms).toISOString();
}

export function toNum(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

interface RawPatternRow {
  id: unknown;
  name: string;
  regex: string;
  ip_group: unknown;
  severity: unknown;
  description: string | null;
  enabled: unknown;
  created_at: unknown;
  updated_at: unknown;
  raw?: unknown;
  success?: unknown;
  backtracking?: unknown;
  ignoreregex?: unknown;
  datepattern?: unknown;
}

/**
 * A JSON list column (`ignoreregex`, `datepattern`): the list (none for null or empty), or the
 * column's text when it is not a list of strings (the row is then refused).
 */
function listOf(v: unknown): { list?: string[]; invalid?: string } {
  if (v === null || v === undefined || v === '') return {};
  try {
    const list: unknown = JSON.parse(String(v));
    if (Array.isArray(list) && list.every((x) => typeof x === 'string'))
      return list.length > 0 ? { list: list as string[] } : {};
  } catch {
    // reported below, as the row's error
  }
  return { invalid: String(v).slice(0, 200) };
}

function listFields(r: RawPatternRow): Partial<PatternRow> {
  const ign = listOf(r.ignoreregex);
  const dp = listOf(r.datepattern);
  return {
    ...(ign.list ? { ignoreregex: ign.list } : {}),
    ...(ign.invalid !== undefined ? { ignoreregexInvalid: ign.invalid } : {}),
    ...(dp.list ? { datepattern: dp.list } : {}),
    ...(dp.invalid !== undefined ? { datepatternInvalid: dp.invalid } : {}),
  };
}

/** The column's text for a list (null for none). */
export function listColumn(list: readonly string[] | undefined): string | null {
  return list !== undefined && list.length > 0 ? JSON.stringify(list) : null;
}

export function patternRowFrom(r: RawPatternRow): PatternRow {
  return {
    id: toNum(r.id),
    name: r.name,
    regex: r.regex,
    ip_group: toNum(r.ip_group),
    severity: toNum(r.severity),
    description: r.description ?? '',
    enabled: toBool(r.enabled),
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
    raw: toBool(r.raw),
    success: toBool(r.success),
    backtracking: toBool(r.backtracking),
    ...listFields(r),
  };
}

/** The matcher's spec of a pattern row. */
export function specOf(p: PatternRow): PatternSpec {
  if (p.ignoreregexInvalid !== undefined)
    throw new PatternError(p.name, `ignoreregex is not a JSON list of regexes: ${p.ignoreregexInvalid}`);
  if (p.datepatternInvalid !== undefined)
    throw new PatternError(
      p.name,
      `datepattern is not a JSON list of date templates: ${p.datepatternInvalid}`,
    );
  return {
    name: p.name,
    regex: p.regex,
    ip_group: p.ip_group,
    severity: p.severity,
    description: p.description,
    enabled: p.enabled,
    raw: p.raw === true,
    ...(p.success === true ? { success: true } : {}),
    ...(p.backtracking === true ? { backtracking: true } : {}),
    ...(p.ignoreregex !== undefined && p.ignoreregex.length > 0 ? { ignoreregex: p.ignoreregex } : {}),
    ...(p.datepattern !== undefined && p.datepattern.length > 0 ? { datepattern: p.datepattern } : {}),
  };
}

export { ipGroupIndex };

/** A pattern spec as a `patterns` row to insert (named ip_group turned into its number). */
export function rowOfSpec(s: PatternSpec): Omit<PatternRow, 'id' | 'created_at' | 'updated_at'> {
  const g = s.ip_group;
  // a session pattern that names no address (it comes from the session) is stored with group 0
  const ipGroup =
    typeof g === 'number'
      ? g
      : /^\d+$/.test(g)
        ? Number(g)
        : (namedGroupIndex(s.regex, g) ??
          (namedGroupIndex(s.regex, 'mlfid') !== null ? 0 : ipGroupIndex(s.name, s.regex, g)));
  return {
    name: s.name,
    regex: s.regex,
    ip_group: ipGroup,
    severity: s.severity,
    description: s.description,
    enabled: s.enabled,
    raw: s.raw,
    success: s.success === true,
    backtracking: s.backtracking === true,
    ...(s.ignoreregex !== undefined && s.ignoreregex.length > 0 ? { ignoreregex: s.ignoreregex } : {}),
    ...(s.datepattern !== undefined && s.datepattern.length > 0 ? { datepattern: s.datepattern } : {}),
  };
}

interface RawBanConfigRow {
  name: string;
  initial_ban_time_seconds: unknown;
  max_ban_time_seconds: unknown;
  escalation_factor: unknown;
  max_attempts: unknown;
  time_window_seconds: unknown;
  cleanup_interval_seconds: unknown;
  max_memory_ttl_seconds: unknown;
  enabled: unknown;
}

export function banConfigRowFrom(r: RawBanConfigRow): BanConfigRow {
  return {
    name: r.name,
    initial_ban_time_seconds: toNum(r.initial_ban_time_seconds),
    max_ban_time_seconds: toNum(r.max_ban_time_seconds),
    escalation_factor: toNum(r.escalation_factor),
    max_attempts: toNum(r.max_attempts),
    time_window_seconds: toNum(r.time_window_seconds),
    cleanup_interval_seconds: toNum(r.cleanup_interval_seconds),
    max_memory_ttl_seconds: toNum(r.max_memory_ttl_seconds),
    enabled: toBool(r.enabled),
  };
}

/** Throws BanConfigError unless the row is usable (reference ValidateConfiguration, plus the rest > 0). */
export function validateBanConfig(r: BanConfigRow): void {
  const need = (ok: boolean, why: string) => {
    if (!ok) throw new BanConfigError(r.name, why);
  };
  need(typeof r.name === 'string' && r.name.trim() !== '', 'name is empty');
  const positive = [
    'initial_ban_time_seconds',
    'max_ban_time_seconds',
    'max_attempts',
    'time_window_seconds',
    'cleanup_interval_seconds',
    'max_memory_ttl_seconds',
  ] as const;
  for (const k of positive)
    need(Number.isFinite(r[k]) && r[k] > 0, `${k} must be greater than 0 (found ${r[k]})`);
  need(Number.isInteger(r.max_attempts), `max_attempts must be an integer (found ${r.max_attempts})`);
  need(
    Number.isFinite(r.escalation_factor) && r.escalation_factor > 1,
    `escalation_factor must be greater than 1 (found ${r.escalation_factor})`,
  );
  need(
    r.max_ban_time_seconds >= r.initial_ban_time_seconds,
    'max_ban_time_seconds must not be below initial_ban_time_seconds',
  );
}

export function policyOf(r: BanConfigRow): BanPolicy {
  return {
    initialBanTime: r.initial_ban_time_seconds * 1000,
    maxBanTime: r.max_ban_time_seconds * 1000,
    escalationFactor: r.escalation_factor,
    maxAttempts: r.max_attempts,
    timeWindow: r.time_window_seconds * 1000,
    cleanupInterval: r.cleanup_interval_seconds * 1000,
    maxMemoryTtl: r.max_memory_ttl_seconds * 1000,
  };
}

export function banConfigOfPolicy(name: string, p: BanPolicy): BanConfigRow {
  const s = (ms: number) => Math.max(1, Math.round(ms / 1000));
  return {
    name,
    initial_ban_time_seconds: s(p.initialBanTime),
    max_ban_time_seconds: s(p.maxBanTime),
    escalation_factor: p.escalationFactor,
    max_attempts: p.maxAttempts,
    time_window_seconds: s(p.timeWindow),
    cleanup_interval_seconds: s(p.cleanupInterval),
    max_memory_ttl_seconds: s(p.maxMemoryTtl),
    enabled: true,
  };
}

interface RawListRow {
  ip_address: string;
  reason: string | null;
  created_at: unknown;
  created_by: string | null;
}

/** A list row as the engine's record, or null when `ip_address` is neither an address nor a CIDR. */
export function listRecordFrom(kind: ListName, r: RawListRow): BanRecord | null {
  const target = canonicalTarget(r.ip_address);
  if (target === null) return null;
  return {
    target,
    kind,
    reason: r.reason ?? '',
    pattern: null,
    createdAt: toMs(r.created_at) ?? Date.now(),
    expiresAt: null,
    createdBy: r.created_by ?? 'system',
    offences: 0,
    node: '',
  };
}

export interface RawBanRow {
  ip_address: string;
  kind: string;
  reason: string;
  pattern: string | null;
  created_at_ms: unknown;
  expires_at_ms: unknown;
  created_by: string;
  node: string;
  ban_count: unknown;
  jail?: string | null;
  services?: string | null;
}

export function banRecordFrom(r: RawBanRow): BanRecord {
  return {
    target: r.ip_address,
    kind: 'temp',
    reason: r.reason,
    pattern: r.pattern,
    createdAt: toNum(r.created_at_ms),
    expiresAt: r.expires_at_ms === null ? null : toNum(r.expires_at_ms),
    createdBy: r.created_by,
    offences: toNum(r.ban_count),
    node: r.node,
    jail: r.jail ?? DEFAULT_JAIL,
    services: r.services ? r.services.split(',') : [],
  };
}

export function banRowOf(b: BanRecord): RawBanRow & {
  created_at_ms: number;
  expires_at_ms: number | null;
  ban_count: number;
  jail: string;
  services: string | null;
} {
  return {
    ip_address: b.target,
    kind: b.kind,
    reason: b.reason,
    pattern: b.pattern,
    created_at_ms: b.createdAt,
    expires_at_ms: b.expiresAt,
    created_by: b.createdBy,
    node: b.node,
    ban_count: b.offences,
    jail: b.jail ?? DEFAULT_JAIL,
    services: b.services && b.services.length > 0 ? b.services.join(',') : null,
  };
}

export function offenceFrom(r: {
  ip_address: string;
  ban_count: unknown;
  last_offence_ms: unknown;
}): OffenceRecord {
  return { target: r.ip_address, banCount: toNum(r.ban_count), lastOffence: toNum(r.last_offence_ms) };
}
