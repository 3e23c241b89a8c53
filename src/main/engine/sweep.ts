import type { BanTable } from '../../shared/bantable/index.js';
import type { RowCursor } from './keyed-rows.js';
import type { Offences, TempBans } from './records.js';
import type { FailureTrackers } from './trackers.js';

/** Entries one sweep slice looks at: keeps each event-loop turn of the sweep short. */
export const SWEEP_SLICE = 4096;

export interface SweepDeps {
  /** Every jail's temporary bans. */
  temps: readonly TempBans[];
  offences: Offences;
  /** Every jail's failure counts. */
  trackers: readonly FailureTrackers[];
  table: BanTable;
  maxMemoryTtl: () => number;
  /** A temporary ban ran out and was dropped (metrics), with its pattern and jail. */
  expired: (pattern: string | null, jail: string, shadow: boolean) => void;
  /** The same ban, still in its row, for its history (null: nobody keeps history). */
  ending: ((t: TempBans, row: number, now: number) => void) | null;
  /** An offence memory was dropped (the event for the store). */
  forgotten: (target: string, at: number) => void;
}

/**
 * One pass of the periodic sweep: expired temp bans, then the ban table, then forgotten offences,
 * then idle trackers, run in slices of bounded work that resume where the last one stopped.
 * The walks over the rows see rows added meanwhile and survive removals (and compaction, which
 * moves their cursors), so a pass visits every row present at its start.
 */
export class SweepPass {
  /** Temporary bans dropped so far. */
  expired = 0;
  /** 0 temp bans, 1 ban table, 2 offences, 3 trackers, 4 done. */
  private phase = 0;
  /** The jail whose bans (phase 0) or counts (phase 3) are being walked. */
  private jail = 0;
  private readonly temp: RowCursor[];
  private readonly offences: RowCursor;

  constructor(private readonly d: SweepDeps) {
    this.temp = d.temps.map((t) => t.openCursor());
    this.offences = d.offences.openCursor();
    for (const t of d.trackers) t.restartSweep();
  }

  /** At most `budget` entries; true once the pass is complete. */
  step(now: number, budget: number): boolean {
    const d = this.d;
    let left = budget;
    while (this.phase === 0 && left > 0) {
      if (this.jail >= d.temps.length) {
        this.phase = 1;
        this.jail = 0;
        break;
      }
      const t = d.temps[this.jail];
      const c = this.temp[this.jail];
      for (; left > 0; left--) {
        if (c.row >= t.end) {
          t.closeCursor(c);
          t.maybeCompact();
          this.jail++;
          break;
        }
        const r = c.row++;
        if (t.isLive(r) && t.expiresAt(r) <= now) {
          d.expired(t.pattern(r), t.jail, t.isShadow(r));
          if (d.ending) d.ending(t, r, now);
          t.remove(r);
          this.expired++;
        }
      }
    }
    if (this.phase === 1 && left > 0) {
      d.table.sweep(Math.floor(now / 1000));
      this.phase = 2;
      left--;
    }
    if (this.phase === 2) {
      const ttl = d.maxMemoryTtl();
      const o = d.offences;
      const c = this.offences;
      for (; left > 0; left--) {
        if (c.row >= o.end) {
          this.phase = 3;
          o.closeCursor(c);
          o.maybeCompact();
          break;
        }
        const r = c.row++;
        if (o.isLive(r) && now - o.lastOffence(r) >= ttl) {
          d.forgotten(o.targetText(r), now);
          o.remove(r);
        }
      }
    }
    while (this.phase === 3 && left > 0) {
      if (this.jail >= d.trackers.length) this.phase = 4;
      else if (d.trackers[this.jail].sweepSome(now, left)) this.jail++;
      else left = 0;
    }
    return this.phase === 4;
  }

  /** Gives the cursors back when the pass is dropped before its end. */
  close(): void {
    for (let i = 0; i < this.d.temps.length; i++) this.d.temps[i].closeCursor(this.temp[i]);
    this.d.offences.closeCursor(this.offences);
  }
}
