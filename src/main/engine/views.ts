import { type BanTable, Kind, LookupResult } from '../../shared/bantable/index.js';
import { cidrText, cidrCovers as covers } from '../../shared/ip/cidr.js';
import { maskInPlace, type ParsedCidr, parseCidr, parseIp } from '../../shared/ip/parse.js';
import type { JailState } from './jail-state.js';
import type { RecentLines } from './recent-lines.js';
import type { Offences, TempBans } from './records.js';
import type { AddressStatus, BanKind, BanRecord, JailStatus, ListPage, ListQuery } from './types.js';

/** Where an address or list entry came from (the API, the config file, the database). */
export type ListSource = 'api' | 'config' | 'database';

/** What the read views need of the engine. */
export interface ViewHost {
  readonly table: BanTable;
  readonly offences: Offences;
  readonly recent: RecentLines;
  readonly lists: Readonly<
    Record<'blacklist' | 'whitelist', ReadonlyMap<string, BanRecord & { source: ListSource }>>
  >;
  now(): number;
  /** Every jail's state, the removed ones that still hold bans included. */
  states(): readonly JailState[];
  /** The counted target of an address: IPv4 itself, IPv6 its `ipv6Prefix` network. */
  targetOf(addr: Uint8Array, family: 4 | 6): { key: string; cidr: ParsedCidr };
}

/**
 * The engine's read side for the API: pages of bans and list entries, and an address's status
 * (the explain view). Reads the engine's columns and the table; changes nothing.
 */
export class EngineViews {
  private readonly out = new LookupResult();

  constructor(private readonly h: ViewHost) {}

  list(kind: BanKind, query: ListQuery): ListPage {
    const offset = Math.max(0, query.offset ?? 0);
    const limit = Math.max(0, query.limit ?? 100);
    const now = this.h.now();
    const filter = query.filter?.trim() ? this.filterOf(query.filter.trim()) : null;
    const items: BanRecord[] = [];
    let total = 0;
    if (kind === 'temp') {
      const shadow = query.shadow === true;
      for (const st of this.h.states()) {
        if (query.jail !== undefined && st.name !== query.jail) continue;
        const t = st.temp;
        for (let r = 0; r < t.end; r++) {
          // a ban under a whitelist entry is kept (it comes back when the entry goes) but not in force
          if (!t.isLive(r) || t.expiresAt(r) <= now || t.isShadow(r) !== shadow || this.hidden(t, r))
            continue;
          if (filter && !filter(t.targetText(r))) continue;
          if (total >= offset && items.length < limit) items.push(t.scopedRecord(r));
          total++;
        }
      }
      return { total, items };
    }
    for (const rec of this.h.lists[kind].values()) {
      if (filter && !filter(rec.target)) continue;
      if (total >= offset && items.length < limit) items.push(stripSource(rec));
      total++;
      // without a filter the total is known: stop walking once the page is full
      if (!filter && items.length === limit) {
        total = this.h.lists[kind].size;
        break;
      }
    }
    return { total, items };
  }

  status(ip: string): AddressStatus {
    const a = parseIp(ip);
    const now = this.h.now();
    const out = this.out;
    const v = this.h.table.checkBytes(a.bytes, 0, a.family === 4 ? 4 : 16, Math.floor(now / 1000), out);
    const kind: BanKind | null =
      out.kind === Kind.WHITELIST
        ? 'whitelist'
        : out.kind === Kind.BLACKLIST
          ? 'blacklist'
          : out.kind === Kind.TEMP_BAN
            ? 'temp'
            : null;
    let matched: string | null = null;
    let reason: string | undefined;
    let expiresAt: number | undefined;
    if (kind) {
      const b = a.bytes.slice();
      maskInPlace(b, out.prefixLen);
      matched = cidrText(b, a.family, out.prefixLen);
      if (kind === 'temp') {
        // the deciding ban: the latest-ending one in force of this key, in whichever jail
        for (const st of this.h.states()) {
          const t = st.temp;
          const row = t.find(b, a.family, out.prefixLen);
          if (row < 0 || t.isShadow(row) || (expiresAt !== undefined && t.expiresAt(row) <= expiresAt))
            continue;
          reason = t.reasonOf(row);
          expiresAt = t.expiresAt(row);
        }
      } else reason = this.h.lists[kind].get(matched)?.reason;
    }
    const target = this.h.targetOf(a.bytes, a.family);
    const off = this.h.offences.find(target.cidr.bytes, a.family, target.cidr.prefixLen);
    const jails: JailStatus[] = [];
    let failures = 0;
    for (const st of this.h.states()) {
      const t = st.temp;
      const row = t.find(target.cidr.bytes, a.family, target.cidr.prefixLen);
      const live = row >= 0 && t.expiresAt(row) > now;
      if (st.removed && !live) continue;
      const p = st.policy();
      const n = st.counting ? st.trackers.failures(target.cidr.bytes, a.family, now) : 0;
      failures += n;
      jails.push({
        jail: st.name,
        failures: n,
        threshold: p.maxAttempts,
        window: p.timeWindow,
        mode: st.shadow ? 'shadow' : 'enforce',
        ban: live
          ? {
              expiresAt: t.expiresAt(row),
              services: t.servicesOf(row),
              shadow: t.isShadow(row),
              reason: t.reasonOf(row),
              offences: t.offencesOf(row),
            }
          : null,
        lines: this.h.recent.get(st.name, target.cidr.bytes, a.family),
      });
    }
    return {
      ip: a.text,
      banned: v === 1,
      kind,
      matched,
      reason: reason ?? (kind ? this.h.table.reasonText(out.reasonId) || null : null),
      expiresAt: kind === 'temp' ? (expiresAt ?? out.expiresAt * 1000) : null,
      offences: off >= 0 ? this.h.offences.banCount(off) : 0,
      failures,
      jails,
    };
  }

  /** True when a whitelist entry covers the whole of this temporary ban's target. */
  hidden(t: TempBans, row: number): boolean {
    const wl = this.h.lists.whitelist;
    if (wl.size === 0) return false;
    const family = t.familyOf(row);
    const prefixLen = t.prefixOf(row);
    const bytes = t.keyBytes(row);
    if (prefixLen === (family === 4 ? 32 : 128)) {
      this.h.table.checkBytes(bytes, 0, family === 4 ? 4 : 16, 0, this.out);
      return this.out.kind === Kind.WHITELIST;
    }
    const c: ParsedCidr = { family, bytes: bytes.slice(0, family === 4 ? 4 : 16), prefixLen, text: '' };
    for (const w of wl.values()) if (covers(parseCidr(w.target), c)) return true;
    return false;
  }

  /** A list filter: CIDR containment when the filter parses as an address/CIDR, else substring. */
  private filterOf(f: string): (target: string) => boolean {
    try {
      const c = parseCidr(f);
      return (t) => covers(c, parseCidr(t));
    } catch {
      return (t) => t.includes(f);
    }
  }
}

export function stripSource(r: BanRecord & { source?: ListSource }): BanRecord {
  const { source: _source, ...rest } = r;
  return rest;
}
