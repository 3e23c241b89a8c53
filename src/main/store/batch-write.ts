import type { Kysely, Transaction } from 'kysely';
import type { BanRecord } from '../engine/types.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import type { DialectName } from './connect.js';
import { type HistoryInsert, insertHistory } from './history.js';
import type { WriteBatch } from './journal.js';
import { banRowOf } from './rows.js';
import { BAN_DETAIL_COLUMNS, type Database, type ListName } from './schema.js';
import { clip } from './text.js';
import { upsert } from './upsert.js';

/** Rows per multi-row statement (well under every dialect's bound-parameter limit). */
const CHUNK = 500;

const BAN_COLUMNS = ['kind', ...BAN_DETAIL_COLUMNS] as const;
/** A ban row per (target, jail). */
const BAN_KEY = ['ip_address', 'jail'] as const;
const OFFENCE_COLUMNS = ['ban_count', 'last_offence_ms'] as const;

/** The raw `ip_address` texts the database holds for a list entry (rows written by hand need not be canonical). */
export type ListVariants = (kind: ListName, target: string) => readonly string[];

/** One batch of changes in one transaction: bans and offences upserted or deleted, list entries on or off. */
export async function writeBatch(
  db: Kysely<Database>,
  dialect: DialectName,
  b: WriteBatch,
  now: number,
  variants: ListVariants,
  history: readonly HistoryInsert[] = [],
): Promise<void> {
  const banPuts: ReturnType<typeof banRowOf>[] = [];
  const banDels: { target: string; jail: string }[] = [];
  for (const w of b.bans.values()) {
    if (w.op === 'put' && (w.record.expiresAt === null || w.record.expiresAt > now)) {
      const r = banRowOf(w.record);
      r.reason = clip(r.reason, 4096) ?? '';
      r.pattern = clip(r.pattern);
      r.created_by = clip(r.created_by) ?? '';
      r.node = clip(r.node) ?? '';
      banPuts.push(r);
    } else
      banDels.push(
        w.op === 'put'
          ? { target: w.record.target, jail: w.record.jail ?? DEFAULT_JAIL }
          : { target: w.target, jail: w.jail ?? DEFAULT_JAIL },
      );
  }
  const offPuts: { ip_address: string; ban_count: number; last_offence_ms: number }[] = [];
  const offDels: string[] = [];
  for (const w of b.offences.values()) {
    if (w.op === 'put')
      offPuts.push({
        ip_address: w.record.target,
        ban_count: w.record.banCount,
        last_offence_ms: w.record.lastOffence,
      });
    else offDels.push(w.target);
  }
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < banPuts.length; i += CHUNK)
      await upsert(trx, dialect, 'bans', banPuts.slice(i, i + CHUNK), BAN_KEY, { copy: BAN_COLUMNS });
    // deletes grouped by jail: one `ip_address in (...)` per jail and chunk
    const byJail = new Map<string, string[]>();
    for (const d of banDels) {
      const list = byJail.get(d.jail);
      if (list) list.push(d.target);
      else byJail.set(d.jail, [d.target]);
    }
    for (const [jail, targets] of byJail)
      for (let i = 0; i < targets.length; i += CHUNK)
        await trx
          .deleteFrom('bans')
          .where('jail', '=', jail)
          .where('ip_address', 'in', targets.slice(i, i + CHUNK))
          .execute();
    for (let i = 0; i < offPuts.length; i += CHUNK)
      await upsert(trx, dialect, 'offences', offPuts.slice(i, i + CHUNK), 'ip_address', {
        copy: OFFENCE_COLUMNS,
      });
    for (let i = 0; i < offDels.length; i += CHUNK)
      await trx
        .deleteFrom('offences')
        .where('ip_address', 'in', offDels.slice(i, i + CHUNK))
        .execute();
    for (const w of b.lists.values()) {
      if (w.op === 'put') await putListEntry(trx, dialect, w.kind, w.record, variants);
      else await disableListEntry(trx, w.kind, w.target, variants);
    }
    if (history.length > 0) await insertHistory(trx, history);
  });
}

/**
 * Adds (or re-enables) a list entry. The reference soft-deleted entries and then could never
 * add them again (UNIQUE); here a re-add turns the same row back on.
 */
async function putListEntry(
  trx: Transaction<Database>,
  dialect: DialectName,
  kind: ListName,
  r: BanRecord,
  variants: ListVariants,
): Promise<void> {
  const created = new Date(r.createdAt);
  const values = {
    ip_address: r.target,
    reason: clip(r.reason, 4096),
    created_by: clip(r.createdBy) ?? 'api',
    created_at: created,
    enabled: true,
  };
  // a hand-written variant of the same entry (`10.0.0.1/32`, upper-case IPv6) is switched off
  const others = variants(kind, r.target).filter((v) => v !== r.target);
  if (others.length > 0)
    await trx.updateTable(kind).set({ enabled: false }).where('ip_address', 'in', others).execute();
  await upsert(trx, dialect, kind, values, 'ip_address', {
    set: { reason: values.reason, created_by: values.created_by, created_at: created, enabled: true },
  });
}

async function disableListEntry(
  trx: Transaction<Database>,
  kind: ListName,
  target: string,
  variants: ListVariants,
): Promise<void> {
  const all = [target, ...variants(kind, target)];
  await trx
    .updateTable(kind)
    .set({ enabled: false })
    .where('ip_address', 'in', [...new Set(all)])
    .execute();
}

/** A batch as one batch per change (to find the change the database refuses). */
export function splitBatch(b: WriteBatch): WriteBatch[] {
  const out: WriteBatch[] = [];
  for (const [k, v] of b.bans) out.push({ bans: new Map([[k, v]]), offences: new Map(), lists: new Map() });
  for (const [k, v] of b.offences)
    out.push({ bans: new Map(), offences: new Map([[k, v]]), lists: new Map() });
  for (const [k, v] of b.lists) out.push({ bans: new Map(), offences: new Map(), lists: new Map([[k, v]]) });
  return out;
}

/** The first change of a batch, for a log line. */
export function describeBatch(b: WriteBatch): string {
  for (const k of b.bans.keys()) return `ban ${k}`;
  for (const k of b.offences.keys()) return `offence ${k}`;
  for (const k of b.lists.keys()) return `list ${k}`;
  return 'nothing';
}
