import type { Kysely, Transaction } from 'kysely';
import { type ParsedCidr, parseCidr } from '../../shared/ip/parse.js';
import type { BanEndReason, EndedBan } from '../engine/history.js';
import { DEFAULT_JAIL } from '../engine/types.js';
import type { DialectName } from './connect.js';
import { toNum } from './rows.js';
import type { BanHistoryTable, Database } from './schema.js';
import { clip } from './text.js';

/** Rows per INSERT (17 columns each: well under every dialect's bound-parameter limit). */
const CHUNK = 200;

/** A `ban_history` row as inserted. */
export type HistoryInsert = Omit<
  BanHistoryTable,
  'id' | 'jail' | 'created_at_ms' | 'expires_at_ms' | 'ended_at_ms'
> & {
  jail: string;
  created_at_ms: number;
  expires_at_ms: number | null;
  ended_at_ms: number;
};

/** One ended ban as the API shows it (times in unix ms). */
export interface HistoryEntry {
  id: number;
  ip_address: string;
  jail: string;
  services: string[] | null;
  kind: string;
  reason: string;
  pattern: string | null;
  created_at_ms: number;
  created_by: string;
  node: string;
  ban_count: number;
  expires_at_ms: number | null;
  ended_at_ms: number;
  end_reason: BanEndReason;
  ended_by: string;
}

export interface HistoryQuery {
  /** An address (the bans that covered it) or a CIDR (the bans inside it), canonical or not. */
  ip?: string;
  jail?: string;
  /** Ended at or after (unix ms). */
  since?: number;
  limit: number;
  offset: number;
}

export interface HistoryPage {
  total: number;
  items: HistoryEntry[];
}

function hex(bytes: Uint8Array, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

/** The first and last address of a target as fixed-width text that sorts like the addresses. */
export function rangeOf(c: ParsedCidr): { start: string; end: string } {
  const n = c.family === 4 ? 4 : 16;
  const lo = c.bytes.slice(0, n);
  const hi = lo.slice();
  for (let bit = c.prefixLen; bit < n * 8; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    lo[i] &= ~m;
    hi[i] |= m;
  }
  const tag = c.family === 4 ? '4' : '6';
  return { start: tag + hex(lo, n), end: tag + hex(hi, n) };
}

/** The row an ended ban leaves (null when its target does not parse, which the engine never makes). */
export function historyRowOf(e: EndedBan): HistoryInsert | null {
  const r = e.record;
  let c: ParsedCidr;
  try {
    c = parseCidr(r.target);
  } catch {
    return null;
  }
  const range = rangeOf(c);
  return {
    ip_address: r.target,
    range_start: range.start,
    range_end: range.end,
    jail: clip(r.jail ?? DEFAULT_JAIL) ?? DEFAULT_JAIL,
    services: r.services && r.services.length > 0 ? clip(r.services.join(','), 4096) : null,
    kind: r.kind,
    reason: clip(r.reason, 4096) ?? '',
    pattern: clip(r.pattern),
    created_at_ms: r.createdAt,
    created_by: clip(r.createdBy) ?? '',
    node: clip(r.node) ?? '',
    ban_count: r.offences,
    expires_at_ms: r.expiresAt,
    ended_at_ms: e.at,
    end_reason: e.reason,
    ended_by: clip(e.by) ?? '',
  };
}

/**
 * Ended bans waiting for the next write. Bounded: while the database is down the oldest go
 * first (counted), and it is not mirrored on disk; history is a record, not state.
 */
export class HistoryQueue {
  private rows: HistoryInsert[] = [];
  dropped = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.rows.length;
  }

  add(r: HistoryInsert): void {
    if (this.max <= 0) return;
    if (this.rows.length >= this.max) {
      this.rows.shift();
      this.dropped++;
    }
    this.rows.push(r);
  }

  take(): HistoryInsert[] {
    const r = this.rows;
    this.rows = [];
    return r;
  }

  /** A batch that could not be written goes back ahead of the rows that came since. */
  putBack(rows: HistoryInsert[]): void {
    const all = rows.concat(this.rows);
    const over = all.length - this.max;
    if (over > 0) {
      this.dropped += over;
      all.splice(0, over);
    }
    this.rows = all;
  }
}

export async function insertHistory(
  trx: Transaction<Database> | Kysely<Database>,
  rows: readonly HistoryInsert[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK)
    await trx
      .insertInto('ban_history')
      .values(rows.slice(i, i + CHUNK))
      .execute();
}

/** Deletes at most `limit` rows that ended before `cutoff`; returns how many went. */
export async function purgeHistory(
  db: Kysely<Database>,
  dialect: DialectName,
  cutoff: number,
  limit: number,
): Promise<number> {
  // MySQL refuses LIMIT in an IN subquery; it has DELETE … LIMIT instead
  const r =
    dialect === 'mysql'
      ? await db
          .deleteFrom('ban_history')
          .where('ended_at_ms', '<', cutoff)
          .orderBy('ended_at_ms')
          .limit(limit)
          .executeTakeFirst()
      : await db
          .deleteFrom('ban_history')
          .where('id', 'in', (q) =>
            q.selectFrom('ban_history').select('id').where('ended_at_ms', '<', cutoff).limit(limit),
          )
          .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** A page of history, newest first, with the total the filters match. */
export async function readHistory(db: Kysely<Database>, q: HistoryQuery): Promise<HistoryPage> {
  let base = db.selectFrom('ban_history');
  if (q.ip !== undefined) {
    const c = parseCidr(q.ip);
    const r = rangeOf(c);
    base =
      c.prefixLen === (c.family === 4 ? 32 : 128)
        ? // both ends carry the family tag, so one family never matches the other
          base.where('range_start', '<=', r.start).where('range_end', '>=', r.start)
        : base.where('range_start', '>=', r.start).where('range_end', '<=', r.end);
  }
  if (q.jail !== undefined) base = base.where('jail', '=', q.jail);
  if (q.since !== undefined) base = base.where('ended_at_ms', '>=', q.since);
  const count = await base
    .select((e) => e.fn.countAll<number | string | bigint>().as('n'))
    .executeTakeFirst();
  const rows = await base
    .selectAll()
    .orderBy('ended_at_ms', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit)
    .offset(q.offset)
    .execute();
  return {
    total: toNum(count?.n ?? 0),
    items: rows.map((r) => ({
      id: toNum(r.id),
      ip_address: r.ip_address,
      jail: r.jail,
      services: r.services ? r.services.split(',') : null,
      kind: r.kind,
      reason: r.reason,
      pattern: r.pattern,
      created_at_ms: toNum(r.created_at_ms),
      created_by: r.created_by,
      node: r.node,
      ban_count: toNum(r.ban_count),
      expires_at_ms: r.expires_at_ms === null ? null : toNum(r.expires_at_ms),
      ended_at_ms: toNum(r.ended_at_ms),
      end_reason: r.end_reason as BanEndReason,
      ended_by: r.ended_by,
    })),
  };
}
