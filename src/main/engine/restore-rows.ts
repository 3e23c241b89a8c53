import { type BanRecord, DEFAULT_JAIL, type OffenceRecord } from './types.js';

/**
 * Persisted temporary bans as the restore reads them: row `i` through accessors, so a page of
 * columns from the database goes into the engine without an object per ban.
 */
export interface BanRows {
  readonly length: number;
  target(i: number): string;
  reason(i: number): string;
  pattern(i: number): string | null;
  createdAt(i: number): number;
  expiresAt(i: number): number | null;
  createdBy(i: number): string;
  offences(i: number): number;
  node(i: number): string;
  /** The jail that made it (`default` for rows written before jails). */
  jail(i: number): string;
  /** Services, comma-separated; null or '' = every service. */
  services(i: number): string | null;
}

/** Persisted offence memory, row by row (see BanRows). */
export interface OffenceRows {
  readonly length: number;
  target(i: number): string;
  banCount(i: number): number;
  lastOffence(i: number): number;
}

/** Records (a driver without columns, the journal) seen as rows. */
export class BanRecordRows implements BanRows {
  constructor(private readonly r: readonly BanRecord[]) {}
  get length(): number {
    return this.r.length;
  }
  target(i: number): string {
    return this.r[i].target;
  }
  reason(i: number): string {
    return this.r[i].reason;
  }
  pattern(i: number): string | null {
    return this.r[i].pattern;
  }
  createdAt(i: number): number {
    return this.r[i].createdAt;
  }
  expiresAt(i: number): number | null {
    return this.r[i].expiresAt;
  }
  createdBy(i: number): string {
    return this.r[i].createdBy;
  }
  offences(i: number): number {
    return this.r[i].offences;
  }
  node(i: number): string {
    return this.r[i].node;
  }
  jail(i: number): string {
    return this.r[i].jail ?? DEFAULT_JAIL;
  }
  services(i: number): string | null {
    const s = this.r[i].services;
    return s === undefined || s.length === 0 ? null : s.join(',');
  }
}

export class OffenceRecordRows implements OffenceRows {
  constructor(private readonly r: readonly OffenceRecord[]) {}
  get length(): number {
    return this.r.length;
  }
  target(i: number): string {
    return this.r[i].target;
  }
  banCount(i: number): number {
    return this.r[i].banCount;
  }
  lastOffence(i: number): number {
    return this.r[i].lastOffence;
  }
}

/** Row `i` as a record (for callers that want the records themselves). */
export function banRecordAt(b: BanRows, i: number): BanRecord {
  return {
    target: b.target(i),
    kind: 'temp',
    reason: b.reason(i),
    pattern: b.pattern(i),
    createdAt: b.createdAt(i),
    expiresAt: b.expiresAt(i),
    createdBy: b.createdBy(i),
    offences: b.offences(i),
    node: b.node(i),
    jail: b.jail(i),
    services: b.services(i)?.split(',') ?? [],
  };
}

export function offenceRecordAt(o: OffenceRows, i: number): OffenceRecord {
  return { target: o.target(i), banCount: o.banCount(i), lastOffence: o.lastOffence(i) };
}
