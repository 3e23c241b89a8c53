import { sql } from 'kysely';
import { EdgebanError } from '../../shared/errors.js';
import type { BanRecord, OffenceRecord } from '../engine/types.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { StoreUnavailableError } from './errors.js';
import type { Link } from './link.js';
import { banRecordFrom, offenceFrom } from './rows.js';
import { BAN_DETAIL_COLUMNS } from './schema.js';
import { type ColumnarResult, cell } from './sqlite-dialect.js';
import type { StatePage } from './types.js';

/** Rows per page when loading bans at start. */
const PAGE = 25_000;

/**
 * The start-up read: active bans and offence memory page by page (keyset order, `PAGE` rows),
 * the next page already being read while `onPage` works on this one, so the database read and
 * the engine's restore overlap. Resolves with the counts; StoreUnavailableError when the
 * database is away or fails (which also marks it down).
 */
export async function readState(
  link: Link,
  log: Logger,
  nowMs: number,
  onPage: (p: StatePage) => void | Promise<void>,
): Promise<{ bans: number; offences: number }> {
  const conn = link.current;
  if (!conn || !link.isConnected) throw new StoreUnavailableError('loading persisted bans');
  const db = conn.db;
  const banQuery = (after: string) =>
    db
      .selectFrom('bans')
      .select(['ip_address', ...BAN_DETAIL_COLUMNS])
      .where('ip_address', '>', after)
      .where((eb) => eb.or([eb('expires_at_ms', '>', nowMs), eb('expires_at_ms', 'is', null)]))
      .orderBy('ip_address')
      .limit(PAGE);
  const offenceQuery = (after: string) =>
    db
      .selectFrom('offences')
      .select(['ip_address', 'ban_count', 'last_offence_ms'])
      .where('ip_address', '>', after)
      .orderBy('ip_address')
      .limit(PAGE);
  // PostgreSQL without statistics (a table filled since the last autovacuum) plans each page
  // as a full scan and sort instead of a walk of the primary key: seconds per page at 1M rows
  if (link.dialect === 'postgres')
    await sql`analyze bans, offences`.execute(db).catch((err) => {
      log.debug({ err: asError(err) }, 'ANALYZE before the restore failed (not the table owner?)');
    });
  // SQLite: the rows cross from its thread as columns, and records are built from those
  const columns = conn.columns;
  const fetchBans = async (after: string): Promise<BanRecord[]> => {
    if (!columns) return (await banQuery(after).execute()).map((r) => banRecordFrom({ ...r, kind: 'temp' }));
    return bansFromColumns(await columns(banQuery(after).compile()));
  };
  const fetchOffences = async (after: string): Promise<OffenceRecord[]> => {
    if (!columns) return (await offenceQuery(after).execute()).map(offenceFrom);
    return offencesFromColumns(await columns(offenceQuery(after).compile()));
  };
  // a prefetch that fails while a page is being handled is awaited (and thrown) on the next turn
  const quiet = <T>(p: Promise<T>) => {
    p.catch(() => {});
    return p;
  };
  let nextBans: Promise<BanRecord[]> | null = quiet(fetchBans(''));
  let nextOffences: Promise<OffenceRecord[]> | null = quiet(fetchOffences(''));
  let nb = 0;
  let no = 0;
  try {
    while (nextBans !== null || nextOffences !== null) {
      const b: BanRecord[] = nextBans ? await nextBans : [];
      const o: OffenceRecord[] = nextOffences ? await nextOffences : [];
      nextBans = b.length === PAGE ? quiet(fetchBans(b[b.length - 1].target)) : null;
      nextOffences = o.length === PAGE ? quiet(fetchOffences(o[o.length - 1].target)) : null;
      nb += b.length;
      no += o.length;
      await onPage({ bans: b, offences: o });
    }
    link.op('load_state', 'success');
    return { bans: nb, offences: no };
  } catch (err) {
    link.op('load_state', 'failure');
    if (!(err instanceof EdgebanError)) link.fail(err, conn);
    throw new StoreUnavailableError('loading persisted bans', err);
  }
}

function bansFromColumns(r: ColumnarResult): BanRecord[] {
  const c = r.columns;
  const out = new Array<BanRecord>(r.length);
  for (let i = 0; i < r.length; i++) {
    out[i] = {
      target: cell(c.ip_address, i) as string,
      kind: 'temp',
      reason: (cell(c.reason, i) as string | null) ?? '',
      pattern: cell(c.pattern, i) as string | null,
      createdAt: cell(c.created_at_ms, i) as number,
      expiresAt: cell(c.expires_at_ms, i) as number | null,
      createdBy: (cell(c.created_by, i) as string | null) ?? '',
      offences: (cell(c.ban_count, i) as number | null) ?? 1,
      node: (cell(c.node, i) as string | null) ?? '',
    };
  }
  return out;
}

function offencesFromColumns(r: ColumnarResult): OffenceRecord[] {
  const c = r.columns;
  const out = new Array<OffenceRecord>(r.length);
  for (let i = 0; i < r.length; i++)
    out[i] = {
      target: cell(c.ip_address, i) as string,
      banCount: cell(c.ban_count, i) as number,
      lastOffence: cell(c.last_offence_ms, i) as number,
    };
  return out;
}
