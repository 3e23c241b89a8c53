import { type CompiledQuery, type Kysely, sql } from 'kysely';
import { EdgebanError } from '../../shared/errors.js';
import { BanRecordRows, type BanRows, OffenceRecordRows, type OffenceRows } from '../engine/restore-rows.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { type BanCursor, bansAfter } from './ban-keyset.js';
import { StoreUnavailableError } from './errors.js';
import type { Link } from './link.js';
import { ColumnBanRows, ColumnOffenceRows } from './restore-columns.js';
import { banRecordFrom, offenceFrom } from './rows.js';
import { BAN_DETAIL_COLUMNS, type Database } from './schema.js';
import type { BulkReader } from './sqlite-dialect.js';
import type { StatePage } from './types.js';

/** Rows per page when loading bans at start. */
const PAGE = 25_000;
const NO_BANS: BanRows = new BanRecordRows([]);
const NO_OFFENCES: OffenceRows = new OffenceRecordRows([]);

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
  // keyset order on the key (ip_address, jail): a page can end between two jails of one address
  const banQuery = (after: BanCursor) =>
    db
      .selectFrom('bans')
      .select(['ip_address', 'jail', ...BAN_DETAIL_COLUMNS])
      .where((eb) => bansAfter(eb, after))
      .where((eb) => eb.or([eb('expires_at_ms', '>', nowMs), eb('expires_at_ms', 'is', null)]))
      .orderBy('ip_address')
      .orderBy('jail')
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
  // SQLite: the rows cross from its thread as columns, and the engine reads those in place
  const columns = conn.columns;
  const fetchBans = async (after: BanCursor): Promise<BanRows> => {
    if (!columns)
      return new BanRecordRows(
        (await banQuery(after).execute()).map((r) => banRecordFrom({ ...r, kind: 'temp' })),
      );
    return new ColumnBanRows(await columns(banQuery(after).compile()));
  };
  // SQLite: offences on a second connection of their own thread, ended with the read, so the
  // two tables are read at once (one thread for both was the restore's limit: ~1.2 µs a row)
  const reader = columns && conn.openReader ? await openReader(conn.openReader, log) : null;
  const offenceColumns = reader ? (q: CompiledQuery) => reader.columns(q) : columns;
  const fetchOffences = async (after: string): Promise<OffenceRows> => {
    if (!offenceColumns) return new OffenceRecordRows((await offenceQuery(after).execute()).map(offenceFrom));
    return new ColumnOffenceRows(await offenceColumns(offenceQuery(after).compile()));
  };
  // a prefetch that fails while a page is being handled is awaited (and thrown) on the next turn
  const quiet = <T>(p: Promise<T>) => {
    p.catch(() => {});
    return p;
  };
  // what the read will bring, counted on the second connection's covering indexes (~30 ms at 1M)
  const totals = reader ? await countRows(reader, db, nowMs, log) : undefined;
  let nextBans: Promise<BanRows> | null = quiet(fetchBans({ ip: '', jail: '' }));
  let nextOffences: Promise<OffenceRows> | null = quiet(fetchOffences(''));
  let nb = 0;
  let no = 0;
  let first = true;
  try {
    while (nextBans !== null || nextOffences !== null) {
      const b: BanRows = nextBans ? await nextBans : NO_BANS;
      const o: OffenceRows = nextOffences ? await nextOffences : NO_OFFENCES;
      nextBans =
        b.length === PAGE
          ? quiet(fetchBans({ ip: b.target(b.length - 1), jail: b.jail(b.length - 1) }))
          : null;
      nextOffences = o.length === PAGE ? quiet(fetchOffences(o.target(o.length - 1))) : null;
      nb += b.length;
      no += o.length;
      await onPage(first && totals ? { bans: b, offences: o, totals } : { bans: b, offences: o });
      first = false;
    }
    link.op('load_state', 'success');
    return { bans: nb, offences: no };
  } catch (err) {
    link.op('load_state', 'failure');
    if (!(err instanceof EdgebanError)) link.fail(err, conn);
    throw new StoreUnavailableError('loading persisted bans', err);
  } finally {
    // a prefetch still with the reader when a page failed: settled before its thread ends
    await nextOffences?.catch(() => {});
    await reader?.close();
  }
}

/** Active bans and offences in the database, or undefined (logged) when the count fails. */
async function countRows(
  reader: BulkReader,
  db: Kysely<Database>,
  nowMs: number,
  log: Logger,
): Promise<{ bans: number; offences: number } | undefined> {
  try {
    // two index ranges, not an OR: SQLite answers `> ? OR IS NULL` by building a rowset (0.7 s)
    const q = sql<{
      bans: number;
      offences: number;
    }>`select (select count(*) from bans where expires_at_ms > ${nowMs}) + (select count(*) from bans where expires_at_ms is null) as bans, (select count(*) from offences) as offences`.compile(
      db,
    );
    const r = await reader.columns(q);
    const b = r.columns.bans;
    const o = r.columns.offences;
    if (r.length !== 1 || b?.kind !== 'number' || o?.kind !== 'number') return undefined;
    return { bans: b.values[0], offences: o.values[0] };
  } catch (err) {
    log.debug({ err: asError(err) }, 'counting the rows to restore failed: the engine grows as they come');
    return undefined;
  }
}

/** The second connection, or null (logged) when it does not open: the first one reads both then. */
async function openReader(open: () => Promise<BulkReader>, log: Logger): Promise<BulkReader | null> {
  try {
    return await open();
  } catch (err) {
    log.warn(
      { err: asError(err) },
      'second SQLite connection for the restore did not open: one reads both tables',
    );
    return null;
  }
}
