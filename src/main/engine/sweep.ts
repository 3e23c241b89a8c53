import type { BanTable } from '../../shared/bantable/index.js';
import type { RowCursor } from './keyed-rows.js';
import type { Offences, TempBans } from './records.js';
import type { FailureTrackers } from './trackers.js';

/** Entries one sweep slice looks at: keeps each event-loop turn of the sweep short. */
export const SWEEP_SLICE = 4096;

export interface SweepDeps {
  temp: TempBans;
  offences: Offences;
  trackers: FailureTrackers;
  table: BanTable;
  maxMemoryTtl: () => number;
  /** A temporary ban ran out and was dropped (metrics), with its pattern. */
  expired: (pattern: string | null) => void;
  /** The same ban, still in its row, for its history (null: nobody keeps history). */
  ending: ((row: number, now: number) => void) | null;
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
  private readonly temp: RowCursor;
  private readonly offences: RowCursor;

  constructor(private readonly d: SweepDeps) {
    this.temp = d.temp.openCursor();
    this.offences = d.offences.openCursor();
    d.trackers.restartSweep();
  }

  /** At most `budget` entries; true once the pass is complete. */
  step(now: number, budget: number): boolean {
    const d = this.d;
    let left = budget;
    if (this.phase === 0) {
      const t = d.temp;
      const c = this.temp;
      for (; left > 0; left--) {
        if (c.row >= t.end) {
          this.phase = 1;
          t.closeCursor(c);
          t.maybeCompact();
          break;
        }
        const r = c.row++;
        if (t.isLive(r) && t.expiresAt(r) <= now) {
          d.expired(t.pattern(r));
          if (d.ending) d.ending(r, now);
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
    if (this.phase === 3 && left > 0 && d.trackers.sweepSome(now, left)) this.phase = 4;
    return this.phase === 4;
  }

  /** Gives the cursors back when the pass is dropped before its end. */
  close(): void {
    this.d.temp.closeCursor(this.temp);
    this.d.offences.closeCursor(this.offences);
  }
}
