import type { BanRecord } from '../engine/types.js';
import type { StoredJail } from './jail-rows.js';
import type { ListName } from './schema.js';
import type { PatternRow } from './types.js';

/** A list's enabled rows as read, before they are checked and made canonical. */
export interface ListRows {
  kind: ListName;
  rows: { ip_address: string; reason: string | null; created_at: unknown; created_by: string | null }[];
}

/** Same patterns in the same order (ids and timestamps aside): a reload that changes nothing. */
export function samePatterns(a: PatternRow[], b: PatternRow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (
      x.name !== y.name ||
      x.regex !== y.regex ||
      x.ip_group !== y.ip_group ||
      x.severity !== y.severity ||
      x.description !== y.description ||
      x.enabled !== y.enabled ||
      (x.raw === true) !== (y.raw === true) ||
      (x.success === true) !== (y.success === true) ||
      (x.backtracking === true) !== (y.backtracking === true) ||
      JSON.stringify(x.ignoreregex ?? []) !== JSON.stringify(y.ignoreregex ?? []) ||
      x.ignoreregexInvalid !== y.ignoreregexInvalid ||
      JSON.stringify(x.datepattern ?? []) !== JSON.stringify(y.datepattern ?? []) ||
      x.datepatternInvalid !== y.datepatternInvalid
    )
      return false;
  }
  return true;
}

/** Same list entries in the same order, as far as the engine sees them. */
export function sameList(a: BanRecord[], b: BanRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].target !== b[i].target || a[i].reason !== b[i].reason || a[i].createdBy !== b[i].createdBy)
      return false;
  }
  return true;
}

/** Same jails with the same keys (ids and timestamps aside): a reload that changes nothing. */
export function sameJailRows(a: readonly StoredJail[], b: readonly StoredJail[]): boolean {
  if (a.length !== b.length) return false;
  const keys = (j: StoredJail) => {
    const { id: _i, created_at: _c, updated_at: _u, ...rest } = j;
    return JSON.stringify(rest);
  };
  for (let i = 0; i < a.length; i++) if (keys(a[i]) !== keys(b[i])) return false;
  return true;
}
