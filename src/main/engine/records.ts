import { KeyedRows } from './keyed-rows.js';
import { ProvenancePool } from './provenance.js';
import type { StringPool } from './strings.js';
import type { BanRecord, OffenceRecord } from './types.js';

const FLAG_SHADOW = 1;
/** Put by a snapshot and not yet found in the database (see engine/snapshot.ts). */
const FLAG_UNCONFIRMED = 2;

/** The fields of a temporary ban besides its target. */
export interface TempBanFields {
  reason: string;
  pattern: string | null;
  createdAt: number;
  expiresAt: number;
  createdBy: string;
  offences: number;
  node: string;
  /** Services the ban covers, as given; empty or absent = every service. */
  services?: readonly string[];
  /** Bit i = service id i (the ban table's ids); 0 = every service. */
  mask?: number;
  /** A shadow jail's would-be ban: listed, never in the ban table. */
  shadow?: boolean;
}

/**
 * The engine's temporary bans in typed columns (unix ms as doubles, so every expiry is kept to
 * the millisecond; reason, pattern, creator, node and services as one id of an interned tuple).
 * About 30 bytes a ban plus the key and the index.
 */
export class TempBans extends KeyedRows {
  private exp: Float64Array<ArrayBuffer> = this.column<Float64Array<ArrayBuffer>>(
    (n) => new Float64Array(n),
    () => this.exp,
    (c) => (this.exp = c),
  );
  private created: Float64Array<ArrayBuffer> = this.column<Float64Array<ArrayBuffer>>(
    (n) => new Float64Array(n),
    () => this.created,
    (c) => (this.created = c),
  );
  private count: Uint32Array<ArrayBuffer> = this.column<Uint32Array<ArrayBuffer>>(
    (n) => new Uint32Array(n),
    () => this.count,
    (c) => (this.count = c),
  );
  /** Reason, pattern, creator, node and services: one interned tuple (provenance.ts). */
  private prov: Uint32Array<ArrayBuffer> = this.column<Uint32Array<ArrayBuffer>>(
    (n) => new Uint32Array(n),
    () => this.prov,
    (c) => (this.prov = c),
  );
  private flags: Uint8Array<ArrayBuffer> = this.column<Uint8Array<ArrayBuffer>>(
    (n) => new Uint8Array(n),
    () => this.flags,
    (c) => (this.flags = c),
  );

  private readonly tuples: ProvenancePool;

  /** `jail`: the jail whose bans these are (one TempBans per jail). */
  constructor(
    strings: StringPool,
    readonly jail = 'default',
  ) {
    super();
    this.tuples = new ProvenancePool(strings);
  }

  /** Adds or replaces the ban of a key; returns its row. */
  put(bytes: Uint8Array, family: 4 | 6, prefixLen: number, f: TempBanFields): number {
    const { row, added } = this.upsert(bytes, family, prefixLen);
    if (!added) this.releaseProvenance(row);
    this.write(row, f);
    return row;
  }

  /** `put` for a key that is not held (a `find` of it just missed): no second lookup. */
  putNew(bytes: Uint8Array, family: 4 | 6, prefixLen: number, f: TempBanFields): number {
    const row = this.appendNew(bytes, family, prefixLen);
    this.write(row, f);
    return row;
  }

  /** A snapshot's ban by its key words, indexed by `endLoad` (KeyedRows.appendUnindexed). */
  loadRow(
    family: 4 | 6,
    prefixLen: number,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
    f: TempBanFields,
  ): number {
    const row = this.appendUnindexed(family, prefixLen, w0, w1, w2, w3);
    this.write(row, f);
    return row;
  }

  /** Indexes the rows loaded since row `from`; returns the duplicates dropped. */
  endLoad(from: number): number {
    return this.indexFrom(from, (r) => this.releaseProvenance(r));
  }

  private write(row: number, f: TempBanFields): void {
    this.exp[row] = f.expiresAt;
    this.created[row] = f.createdAt;
    this.count[row] = f.offences;
    const svc = f.services && f.services.length > 0 ? f.services.join(',') : null;
    this.prov[row] = this.tuples.acquire(
      f.reason,
      f.pattern,
      f.createdBy,
      f.node,
      svc,
      svc === null ? 0 : (f.mask ?? 0) >>> 0,
    );
    this.flags[row] = f.shadow ? FLAG_SHADOW : 0;
  }

  /** `put` for a target in text (the restore): false when it does not parse. */
  putText(target: string, f: TempBanFields): boolean {
    const t = this.parseTarget(target);
    if (t === null) return false;
    this.put(this.parsedBytes, t.family, t.prefixLen, f);
    return true;
  }

  remove(row: number): void {
    if (!this.isLive(row)) return;
    this.releaseProvenance(row);
    this.removeRow(row);
  }

  expiresAt(row: number): number {
    return this.exp[row];
  }

  createdAt(row: number): number {
    return this.created[row];
  }

  pattern(row: number): string | null {
    return this.tuples.pattern(this.prov[row]);
  }

  reasonOf(row: number): string {
    return this.tuples.reason(this.prov[row]);
  }

  node(row: number): string {
    return this.tuples.node(this.prov[row]);
  }

  offencesOf(row: number): number {
    return this.count[row];
  }

  /** Service ids the ban covers as a bit mask; 0 = every service. */
  maskOf(row: number): number {
    return this.tuples.mask(this.prov[row]);
  }

  /** Services the ban covers; empty = every service. */
  servicesOf(row: number): string[] {
    const t = this.tuples.services(this.prov[row]);
    return t === null ? [] : t.split(',');
  }

  isShadow(row: number): boolean {
    return (this.flags[row] & FLAG_SHADOW) !== 0;
  }

  createdByOf(row: number): string {
    return this.tuples.createdBy(this.prov[row]);
  }

  /** Services as stored (`imap,smtp`); null when the ban covers every service. */
  servicesText(row: number): string | null {
    return this.tuples.services(this.prov[row]);
  }

  /** The row came from a snapshot and the database has not shown it yet. */
  isUnconfirmed(row: number): boolean {
    return (this.flags[row] & FLAG_UNCONFIRMED) !== 0;
  }

  markUnconfirmed(row: number): void {
    this.flags[row] |= FLAG_UNCONFIRMED;
  }

  confirm(row: number): void {
    this.flags[row] &= ~FLAG_UNCONFIRMED;
  }

  /** The row as the record the API, events and store see. */
  record(row: number): BanRecord {
    const t = this.tuples;
    const id = this.prov[row];
    return {
      target: this.targetText(row),
      kind: 'temp',
      reason: t.reason(id),
      pattern: t.pattern(id),
      createdAt: this.created[row],
      expiresAt: this.exp[row],
      createdBy: t.createdBy(id),
      offences: this.count[row],
      node: t.node(id),
    };
  }

  /** `record` with its scope: jail, services (empty = every service) and the shadow flag. */
  scopedRecord(row: number): BanRecord {
    const r = this.record(row);
    r.jail = this.jail;
    r.services = this.servicesOf(row);
    if (this.isShadow(row)) r.shadow = true;
    return r;
  }

  private releaseProvenance(row: number): void {
    this.tuples.release(this.prov[row]);
    this.prov[row] = 0;
  }
}

/** Escalation memory per target in typed columns: ban count and last offence (unix ms). */
export class Offences extends KeyedRows {
  private count: Uint32Array<ArrayBuffer> = this.column<Uint32Array<ArrayBuffer>>(
    (n) => new Uint32Array(n),
    () => this.count,
    (c) => (this.count = c),
  );
  private last: Float64Array<ArrayBuffer> = this.column<Float64Array<ArrayBuffer>>(
    (n) => new Float64Array(n),
    () => this.last,
    (c) => (this.last = c),
  );
  /** 1: put by a snapshot and not yet found in the database. */
  private unconfirmed: Uint8Array<ArrayBuffer> = this.column<Uint8Array<ArrayBuffer>>(
    (n) => new Uint8Array(n),
    () => this.unconfirmed,
    (c) => (this.unconfirmed = c),
  );

  put(bytes: Uint8Array, family: 4 | 6, prefixLen: number, banCount: number, lastOffence: number): number {
    const { row } = this.upsert(bytes, family, prefixLen);
    this.count[row] = banCount;
    this.last[row] = lastOffence;
    this.unconfirmed[row] = 0;
    return row;
  }

  isUnconfirmed(row: number): boolean {
    return this.unconfirmed[row] === 1;
  }

  markUnconfirmed(row: number): void {
    this.unconfirmed[row] = 1;
  }

  confirm(row: number): void {
    this.unconfirmed[row] = 0;
  }

  /** A snapshot's offence by its key words, indexed by `endLoad` (KeyedRows.appendUnindexed). */
  loadRow(
    family: 4 | 6,
    prefixLen: number,
    w0: number,
    w1: number,
    w2: number,
    w3: number,
    banCount: number,
    lastOffence: number,
  ): number {
    const row = this.appendUnindexed(family, prefixLen, w0, w1, w2, w3);
    this.count[row] = banCount;
    this.last[row] = lastOffence;
    this.unconfirmed[row] = 0;
    return row;
  }

  /** Indexes the rows loaded since row `from`; returns the duplicates dropped. */
  endLoad(from: number): number {
    return this.indexFrom(from, () => {});
  }

  putText(target: string, banCount: number, lastOffence: number): boolean {
    const t = this.parseTarget(target);
    if (t === null) return false;
    this.put(this.parsedBytes, t.family, t.prefixLen, banCount, lastOffence);
    return true;
  }

  remove(row: number): void {
    if (this.isLive(row)) this.removeRow(row);
  }

  banCount(row: number): number {
    return this.count[row];
  }

  lastOffence(row: number): number {
    return this.last[row];
  }

  record(row: number): OffenceRecord {
    return { target: this.targetText(row), banCount: this.count[row], lastOffence: this.last[row] };
  }
}
