import type { BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import type { ListName } from './schema.js';

/** A ban row put or deleted; `jail` absent = the default jail. */
export type BanWrite = { op: 'put'; record: BanRecord } | { op: 'del'; target: string; jail?: string };

/** The journal key of one ban row, (target, jail): the bare target for the default jail. */
export function banKey(target: string, jail: string | undefined): string {
  return jail === undefined || jail === DEFAULT_JAIL ? target : `${jail}|${target}`;
}
export type OffenceWrite = { op: 'put'; record: OffenceRecord } | { op: 'del'; target: string };
export type ListWrite =
  | { op: 'put'; kind: ListName; record: BanRecord }
  | { op: 'del'; kind: ListName; target: string };

/** One batch of writes, at most one per key (the latest change wins). */
export interface WriteBatch {
  bans: Map<string, BanWrite>;
  offences: Map<string, OffenceWrite>;
  lists: Map<string, ListWrite>;
}

export function batchSize(b: WriteBatch): number {
  return b.bans.size + b.offences.size + b.lists.size;
}

/**
 * Engine events waiting to be written, coalesced per key: a ban lifted before it was written is
 * one delete, a target banned twice is one row. While the database is down this is the journal;
 * it is bounded (`max` entries): when full, expired bans go first, then the oldest offence
 * memories, then the oldest bans. List changes (operators' actions, few) are never dropped.
 */
export class WriteJournal {
  private cur: WriteBatch = emptyBatch();
  /** Changes dropped because the journal was full. */
  dropped = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return batchSize(this.cur);
  }

  add(e: BanEvent): void {
    const b = this.cur;
    switch (e.type) {
      case 'ban': {
        const r = e.record;
        if (r.kind === 'temp') {
          // a shadow jail's would-be ban is reported, not kept: a restart forgets it
          if (r.shadow === true) break;
          const k = banKey(r.target, r.jail);
          b.bans.delete(k); // re-insert: Map order is age order
          b.bans.set(k, { op: 'put', record: r });
        } else {
          const k = `${r.kind}|${r.target}`;
          b.lists.delete(k);
          b.lists.set(k, { op: 'put', kind: r.kind, record: r });
        }
        break;
      }
      case 'unban':
        if (e.kind === 'temp') {
          if (e.shadow === true) break;
          // an unban without a jail predates jails (a spill file of an older run): the default jail's
          const k = banKey(e.target, e.jail);
          b.bans.delete(k);
          b.bans.set(
            k,
            e.jail === undefined || e.jail === DEFAULT_JAIL
              ? { op: 'del', target: e.target }
              : { op: 'del', target: e.target, jail: e.jail },
          );
        } else {
          const k = `${e.kind}|${e.target}`;
          b.lists.delete(k);
          b.lists.set(k, { op: 'del', kind: e.kind, target: e.target });
        }
        break;
      case 'offence':
        b.offences.delete(e.record.target);
        b.offences.set(e.record.target, { op: 'put', record: e.record });
        break;
      case 'forget':
        b.offences.delete(e.target);
        b.offences.set(e.target, { op: 'del', target: e.target });
        break;
    }
    if (this.size > this.max) this.shed(Date.now());
  }

  /** Takes everything pending (the caller writes it, and gives it back with `putBack` on failure). */
  take(): WriteBatch {
    const b = this.cur;
    this.cur = emptyBatch();
    return b;
  }

  /** A batch that could not be written goes back, under the changes that arrived since. */
  putBack(b: WriteBatch): void {
    const merge = <T>(old: Map<string, T>, newer: Map<string, T>): Map<string, T> => {
      for (const [k, v] of newer) {
        old.delete(k);
        old.set(k, v);
      }
      return old;
    };
    this.cur = {
      bans: merge(b.bans, this.cur.bans),
      offences: merge(b.offences, this.cur.offences),
      lists: merge(b.lists, this.cur.lists),
    };
    if (this.size > this.max) this.shed(Date.now());
  }

  /** The pending changes as engine events, oldest first per kind (what the spill file keeps). */
  events(): BanEvent[] {
    const out: BanEvent[] = [];
    for (const w of this.cur.bans.values())
      out.push(
        w.op === 'put'
          ? { type: 'ban', record: w.record }
          : { type: 'unban', target: w.target, kind: 'temp', by: 'journal', reason: '', at: 0, jail: w.jail },
      );
    for (const w of this.cur.lists.values())
      out.push(
        w.op === 'put'
          ? { type: 'ban', record: w.record }
          : { type: 'unban', target: w.target, kind: w.kind, by: 'journal', reason: '', at: 0 },
      );
    for (const w of this.cur.offences.values())
      out.push(
        w.op === 'put' ? { type: 'offence', record: w.record } : { type: 'forget', target: w.target, at: 0 },
      );
    return out;
  }

  /** The pending change of a list entry, if any (reloads must not undo a change not yet written). */
  pendingList(kind: ListName, target: string): ListWrite | undefined {
    return this.cur.lists.get(`${kind}|${target}`);
  }

  private shed(now: number): void {
    const over = () => this.size > this.max;
    const { bans, offences } = this.cur;
    for (const [k, w] of bans) {
      if (!over()) return;
      if (w.op === 'put' && w.record.expiresAt !== null && w.record.expiresAt <= now) {
        bans.delete(k);
        this.dropped++;
      }
    }
    for (const k of offences.keys()) {
      if (!over()) return;
      offences.delete(k);
      this.dropped++;
    }
    for (const k of bans.keys()) {
      if (!over()) return;
      bans.delete(k);
      this.dropped++;
    }
  }
}

export function emptyBatch(): WriteBatch {
  return { bans: new Map(), offences: new Map(), lists: new Map() };
}
