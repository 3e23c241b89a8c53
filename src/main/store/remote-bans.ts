import type { BanRecord } from '../engine/types.js';
import { type BanCursor, bansAfter } from './ban-keyset.js';
import type { Link } from './link.js';
import { banRecordFrom } from './rows.js';
import { BAN_DETAIL_COLUMNS } from './schema.js';

/** Rows per read of the fleet's catch-up. */
const PAGE = 5_000;

/**
 * Active temporary bans other nodes wrote (`node <> node`), page by page in (ip_address, jail) order,
 * for the fleet's catch-up after it lost its channel. `onPage` may yield; the next page is read
 * after it returns. Resolves with the number of rows.
 */
export async function readOtherNodesBans(
  link: Link,
  node: string,
  nowMs: number,
  onPage: (bans: BanRecord[]) => void | Promise<void>,
): Promise<number> {
  const db = link.db('reading the bans of other nodes');
  let after: BanCursor = { ip: '', jail: '' };
  let n = 0;
  for (;;) {
    const a = after;
    const rows = await db
      .selectFrom('bans')
      .select(['ip_address', 'jail', 'kind', ...BAN_DETAIL_COLUMNS])
      .where('node', '<>', node)
      .where('expires_at_ms', '>', nowMs)
      .where((eb) => bansAfter(eb, a))
      .orderBy('ip_address')
      .orderBy('jail')
      .limit(PAGE)
      .execute();
    n += rows.length;
    await onPage(rows.map(banRecordFrom));
    if (rows.length < PAGE) return n;
    const last = rows[rows.length - 1];
    after = { ip: last.ip_address, jail: last.jail };
  }
}
