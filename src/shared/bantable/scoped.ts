import { Kind, LookupResult, Verdict } from './api.js';
import { SERVICE_ANY, SERVICE_SOME } from './services.js';
import type { BanTable } from './table.js';

/**
 * The temporary bans that cover only some services: one ban table per service id, holding for
 * each key the latest expiry among the bans that cover that service. The main table marks each
 * key that has some (the scoped mark), so a lookup of an address that nothing bans costs what it
 * cost before; only IPv4 prefixes, which the main table answers from its range index, are asked
 * for whenever any exists (`ranges4`). Main-thread only: the servers that look up live there.
 */
export class ScopedBans {
  /** Per service id; null until a ban is scoped to it. */
  readonly tables: (BanTable | null)[] = [];
  /** IPv4 prefix entries over all service tables. */
  ranges4 = 0;
  /**
   * Every service at once, for requests that name none: per key the latest expiry over the
   * service tables, so such a lookup costs one table, not one per service.
   */
  private any: BanTable | null = null;
  private readonly tmp = new LookupResult();
  private readonly probe = new LookupResult();

  constructor(private readonly make: () => BanTable) {}

  table(service: number): BanTable {
    let t = this.tables[service];
    if (t === undefined || t === null) {
      while (this.tables.length <= service) this.tables.push(null);
      t = this.make();
      this.tables[service] = t;
    }
    return t;
  }

  /** Bring the every-service entry of a key in line with its service tables (after a change). */
  refresh(bytes: Uint8Array, family: 4 | 6, prefixLen: number): void {
    const p = this.probe;
    let exp = 0;
    let offences = 0;
    let reason = 0;
    for (let s = 0; s < this.tables.length; s++) {
      const t = this.tables[s];
      if (t?.readTemp(bytes, family, prefixLen, p) && p.expiresAt > exp) {
        exp = p.expiresAt;
        offences = p.offences;
        reason = p.reasonId;
      }
    }
    this.any ??= this.make();
    if (exp === 0) this.any.delete(bytes, family, prefixLen, Kind.TEMP_BAN);
    else this.any.set(bytes, family, prefixLen, Kind.TEMP_BAN, exp, offences, reason);
  }

  /** Drop what ended at or before `now` from the every-service table too. */
  sweepAny(now: number): void {
    this.any?.sweep(now);
  }

  /** Whether some service's table holds an entry for exactly this key. */
  holds(bytes: Uint8Array, family: 4 | 6, prefixLen: number): boolean {
    for (let s = 0; s < this.tables.length; s++) {
      const t = this.tables[s];
      if (t?.has(bytes, family, prefixLen)) return true;
    }
    return false;
  }

  /**
   * Fold the scoped bans for `service` into `out`, which holds no verdict yet. SERVICE_ANY asks
   * every table and keeps the latest expiry; an unscoped service (SERVICE_UNSCOPED) asks none.
   * `key` stays an int32 (checkV4 reads it so): an unsigned one past 2^31 would be boxed per call.
   */
  check4(key: number, now: number, out: LookupResult, service: number): void {
    if (service >= 0) {
      const t = this.tables[service];
      if (t !== undefined && t !== null) this.take(t.checkV4(key, now, this.tmp), service, out);
      return;
    }
    if (service !== SERVICE_ANY || this.any === null) return;
    this.take(this.any.checkV4(key, now, this.tmp), SERVICE_SOME, out);
  }

  check6(bytes: Uint8Array, off: number, now: number, out: LookupResult, service: number): void {
    if (service >= 0) {
      const t = this.tables[service];
      if (t !== undefined && t !== null) this.take(t.checkV6(bytes, off, now, this.tmp), service, out);
      return;
    }
    if (service !== SERVICE_ANY || this.any === null) return;
    this.take(this.any.checkV6(bytes, off, now, this.tmp), SERVICE_SOME, out);
  }

  private take(v: number, service: number, out: LookupResult): void {
    const r = this.tmp;
    if (v !== Verdict.DENY || (out.kind === Kind.TEMP_BAN && out.expiresAt >= r.expiresAt)) return;
    out.kind = Kind.TEMP_BAN;
    out.expiresAt = r.expiresAt;
    out.offences = r.offences;
    out.reasonId = r.reasonId;
    out.prefixLen = r.prefixLen;
    out.service = service;
  }
}
