import type { BanRows, OffenceRows } from '../engine/restore-rows.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import { type Column, type ColumnarResult, cell } from './sqlite-dialect.js';

const EMPTY: Column = { kind: 'text', values: [] };

/** A page of the `bans` table as columns from the SQLite thread, read row by row in place. */
export class ColumnBanRows implements BanRows {
  readonly length: number;
  private readonly ip: Column;
  private readonly reasons: Column;
  private readonly patterns: Column;
  private readonly created: Column;
  private readonly expires: Column;
  private readonly creators: Column;
  private readonly nodes: Column;
  private readonly counts: Column;
  private readonly jails: Column;
  private readonly svc: Column;

  constructor(r: ColumnarResult) {
    const c = r.columns;
    this.length = r.length;
    this.jails = c.jail ?? EMPTY;
    this.svc = c.services ?? EMPTY;
    this.ip = c.ip_address ?? EMPTY;
    this.reasons = c.reason ?? EMPTY;
    this.patterns = c.pattern ?? EMPTY;
    this.created = c.created_at_ms ?? EMPTY;
    this.expires = c.expires_at_ms ?? EMPTY;
    this.creators = c.created_by ?? EMPTY;
    this.nodes = c.node ?? EMPTY;
    this.counts = c.ban_count ?? EMPTY;
  }
  target(i: number): string {
    return cell(this.ip, i) as string;
  }
  reason(i: number): string {
    return (cell(this.reasons, i) as string | null) ?? '';
  }
  pattern(i: number): string | null {
    return cell(this.patterns, i) as string | null;
  }
  createdAt(i: number): number {
    return cell(this.created, i) as number;
  }
  expiresAt(i: number): number | null {
    return cell(this.expires, i) as number | null;
  }
  createdBy(i: number): string {
    return (cell(this.creators, i) as string | null) ?? '';
  }
  offences(i: number): number {
    return (cell(this.counts, i) as number | null) ?? 1;
  }
  node(i: number): string {
    return (cell(this.nodes, i) as string | null) ?? '';
  }
  jail(i: number): string {
    return (cell(this.jails, i) as string | null) ?? DEFAULT_JAIL;
  }
  services(i: number): string | null {
    return (cell(this.svc, i) as string | null | undefined) ?? null;
  }
}

/** A page of the `offences` table as columns. */
export class ColumnOffenceRows implements OffenceRows {
  readonly length: number;
  private readonly ip: Column;
  private readonly counts: Column;
  private readonly last: Column;

  constructor(r: ColumnarResult) {
    const c = r.columns;
    this.length = r.length;
    this.ip = c.ip_address ?? EMPTY;
    this.counts = c.ban_count ?? EMPTY;
    this.last = c.last_offence_ms ?? EMPTY;
  }
  target(i: number): string {
    return cell(this.ip, i) as string;
  }
  banCount(i: number): number {
    return cell(this.counts, i) as number;
  }
  lastOffence(i: number): number {
    return cell(this.last, i) as number;
  }
}
