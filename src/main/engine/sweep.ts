import type { BanTable } from '../../shared/bantable/index.js';
import type { FailureTrackers } from './trackers.js';
import type { BanRecord, OffenceRecord } from './types.js';

/** Entries one sweep slice looks at: keeps each event-loop turn of the sweep short. */
export const SWEEP_SLICE = 4096;

export interface SweepDeps {
  temp: Map<string, BanRecord>;
  offences: Map<string, OffenceRecord>;
  trackers: FailureTrackers;
  table: BanTable;
  maxMemoryTtl: () => number;
  /** A temporary ban ran out and was dropped (metrics). */
  expired: (rec: BanRecord) => void;
  /** An offence memory was dropped (the event for the store). */
  forgotten: (target: string, at: number) => void;
}

/**
 * One pass of the periodic sweep: expired temp bans, then the ban table, then forgotten offences,
 * then idle trackers, run in slices of bounded work that resume where the last one stopped.
 * Map iterators see entries added meanwhile and survive deletions, so a pass visits every entry
 * present at its start without copying the maps.
 */
export class SweepPass {
  /** Temporary bans dropped so far. */
  expired = 0;
  /** 0 temp bans, 1 ban table, 2 offences, 3 trackers, 4 done. */
  private phase = 0;
  private readonly temp: Iterator<[string, BanRecord]>;
  private readonly offences: Iterator<[string, OffenceRecord]>;

  constructor(private readonly d: SweepDeps) {
    this.temp = d.temp.entries();
    this.offences = d.offences.entries();
    d.trackers.restartSweep();
  }

  /** At most `budget` entries; true once the pass is complete. */
  step(now: number, budget: number): boolean {
    const d = this.d;
    let left = budget;
    if (this.phase === 0) {
      for (; left > 0; left--) {
        const r = this.temp.next();
        if (r.done) {
          this.phase = 1;
          break;
        }
        const [key, rec] = r.value;
        if ((rec.expiresAt ?? 0) <= now) {
          d.temp.delete(key);
          d.expired(rec);
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
      for (; left > 0; left--) {
        const r = this.offences.next();
        if (r.done) {
          this.phase = 3;
          break;
        }
        const [key, o] = r.value;
        if (now - o.lastOffence >= ttl) {
          d.offences.delete(key);
          d.forgotten(key, now);
        }
      }
    }
    if (this.phase === 3 && left > 0 && d.trackers.sweepSome(now, left)) this.phase = 4;
    return this.phase === 4;
  }
}
