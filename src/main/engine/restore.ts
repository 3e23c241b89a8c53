import { type BanTable, Kind } from '../../shared/bantable/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { type JailState, maskOf } from './jail-state.js';
import { parseTargetInto } from './keyed-rows.js';
import type { Offences, TempBanFields, TempBans } from './records.js';
import type { BanRows, OffenceRows } from './restore-rows.js';
import type { EngineSnapshot } from './snapshot.js';

/** What the restore needs of the engine. */
export interface RestoreHost {
  readonly table: BanTable;
  readonly offences: Offences;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  now(): number;
  /** How long offence memory lasts (`ban.max_memory_ttl`). */
  memoryTtl(): number;
  /** The state of a jail by name (made, as a removed jail, when not configured). */
  holder(jail: string): JailState;
  /** The table's entries for one key from every jail's bans of it (syncScopes). */
  syncTable(bytes: Uint8Array, family: 4 | 6, prefixLen: number, mask: number, unscoped: boolean): void;
  states(): readonly JailState[];
}

const NO_SERVICES: readonly string[] = [];

/**
 * Start-up: persisted bans and offence memory into the engine's columns and the ban table, from
 * database rows (`rows`) or from the snapshot the last stop wrote (`snapshot`, then confirmed by
 * the rows and `dropUnconfirmed`). Restored bans make no event: they are not new.
 */
export class Restorer {
  /** Where a persisted target is parsed, or a snapshot's key unpacked. */
  private readonly b16 = new Uint8Array(16);
  /** A dropped row's key (the row's own bytes go with it). */
  private readonly dropped = new Uint8Array(16);

  constructor(private readonly host: RestoreHost) {}

  rows(bans: BanRows, offences: OffenceRows, from: number, to: number, skip?: ReadonlySet<string>): void {
    const h = this.host;
    const now = h.now();
    const ttl = h.memoryTtl();
    const skipping = skip !== undefined && skip.size > 0;
    for (let i = from, end = Math.min(to, offences.length); i < end; i++) {
      const last = offences.lastOffence(i);
      if (now - last >= ttl) continue;
      const target = offences.target(i);
      if (skipping && skip.has(target)) {
        // changed since by a newer source, but the database holds it: not a snapshot's leftover
        const r = h.offences.findText(target);
        if (r >= 0) h.offences.confirm(r);
        continue;
      }
      h.offences.putText(target, offences.banCount(i), last);
    }
    const b16 = this.b16;
    const added = new Map<string, number>();
    for (let i = from, end = Math.min(to, bans.length); i < end; i++) {
      const expiresAt = bans.expiresAt(i) ?? 0;
      if (expiresAt <= now) continue;
      const target = bans.target(i);
      const t = parseTargetInto(target, b16);
      if (t === null) {
        h.log?.warn({ ip: target }, 'persisted ban with an unreadable target skipped');
        continue;
      }
      const st = h.holder(bans.jail(i));
      const prev = st.temp.find(b16, t.family, t.prefixLen);
      if (skipping && skip.has(target)) {
        if (prev >= 0) st.temp.confirm(prev);
        continue;
      }
      // the snapshot put this very ban already: the database confirms it, nothing to write
      if (prev >= 0 && st.temp.isUnconfirmed(prev) && sameBan(st.temp, prev, bans, i)) {
        st.temp.confirm(prev);
        continue;
      }
      const scope = this.scopeOf(bans.services(i), target);
      if (scope === null) continue;
      this.put(st, prev, t.family, t.prefixLen, added, {
        reason: bans.reason(i),
        pattern: bans.pattern(i),
        createdAt: bans.createdAt(i),
        expiresAt,
        createdBy: bans.createdBy(i),
        offences: bans.offences(i),
        node: bans.node(i),
        services: scope.services,
        mask: scope.mask,
      });
    }
    this.count(added);
  }

  /**
   * A snapshot's bans and offences, without an address to parse or a string per row, each
   * marked unconfirmed until the database's rows show it. Expired bans and forgotten offences
   * stay out.
   */
  snapshot(s: EngineSnapshot): { bans: number; offences: number } {
    const h = this.host;
    const now = h.now();
    const ttl = h.memoryTtl();
    const o = s.offences;
    h.offences.reserve(o.length);
    const fromOffence = h.offences.end;
    const held = h.offences.size;
    for (let i = 0, r6 = 0; i < o.length; i++) {
      const six = o.fam[i] === 6;
      if (now - o.last[i] < ttl) {
        const row = six
          ? h.offences.loadRow(
              6,
              o.plen[i],
              o.key0[i],
              o.rest[r6 * 3],
              o.rest[r6 * 3 + 1],
              o.rest[r6 * 3 + 2],
              o.count[i],
              o.last[i],
            )
          : h.offences.loadRow(4, o.plen[i], o.key0[i], 0, 0, 0, o.count[i], o.last[i]);
        h.offences.markUnconfirmed(row);
      }
      if (six) r6++;
    }
    h.offences.endLoad(fromOffence);
    const offences = h.offences.size - held;

    const b = s.bans;
    const states = s.jails.map((name) => h.holder(name));
    const per = new Int32Array(states.length);
    for (let i = 0; i < b.length; i++) per[b.jail[i]]++;
    for (let j = 0; j < states.length; j++) states[j].temp.reserve(per[j]);
    h.table.reserve(b.length - b.rest.length / 3, b.rest.length / 3);
    // one jail holds every ban, before and after: a key's table entry is that jail's ban, with
    // no other jail's to weigh against it (syncScopes)
    const holding = new Set(h.states().filter((st) => st.temp.size > 0));
    for (let j = 0; j < states.length; j++) if (per[j] > 0) holding.add(states[j]);
    const solo = holding.size === 1 && [...holding][0].temp.size === 0;
    const from = states.map((st) => st.temp.end);
    // services → their mask, once per distinct text (null: unusable, its bans are skipped)
    const scopes = new Map<number, { services: readonly string[]; mask: number } | null>();
    for (let i = 0, r6 = 0; i < b.length; i++) {
      const six = b.fam[i] === 6;
      const at6 = r6;
      if (six) r6++;
      if (b.exp[i] <= now) continue;
      let scope = scopes.get(b.services[i]);
      if (scope === undefined) {
        scope = this.scopeOf(s.strings[b.services[i]], null);
        scopes.set(b.services[i], scope);
      }
      if (scope === null) continue;
      const f: TempBanFields = {
        reason: s.strings[b.reason[i]] ?? '',
        pattern: s.strings[b.pattern[i]],
        createdAt: b.created[i],
        expiresAt: b.exp[i],
        createdBy: s.strings[b.creator[i]] ?? '',
        offences: b.count[i],
        node: s.strings[b.node[i]] ?? '',
        services: scope.services,
        mask: scope.mask,
      };
      const t = states[b.jail[i]].temp;
      const row = six
        ? t.loadRow(6, b.plen[i], b.key0[i], b.rest[at6 * 3], b.rest[at6 * 3 + 1], b.rest[at6 * 3 + 2], f)
        : t.loadRow(4, b.plen[i], b.key0[i], 0, 0, 0, f);
      t.markUnconfirmed(row);
    }
    // indexed, then into the table: a key the jail held already keeps that row
    const added = new Map<string, number>();
    const reasons = new Map<string, number>();
    let bans = 0;
    for (let j = 0; j < states.length; j++) {
      const t = states[j].temp;
      t.endLoad(from[j]);
      for (let r = from[j]; r < t.end; r++) {
        if (!t.isLive(r)) continue;
        const pattern = t.pattern(r) ?? 'manual';
        const mask = t.maskOf(r);
        const key = t.keyBytes(r);
        if (solo && mask === 0) {
          let reason = reasons.get(pattern);
          if (reason === undefined) {
            reason = h.table.reasonId(pattern);
            reasons.set(pattern, reason);
          }
          const exp = Math.ceil(t.expiresAt(r) / 1000);
          h.table.set(key, t.familyOf(r), t.prefixOf(r), Kind.TEMP_BAN, exp, t.offencesOf(r), reason);
        } else h.syncTable(key, t.familyOf(r), t.prefixOf(r), mask, mask === 0);
        added.set(pattern, (added.get(pattern) ?? 0) + 1);
        bans++;
      }
    }
    this.count(added);
    return { bans, offences };
  }

  /**
   * After a whole restore from the database: the snapshot's rows it did not show are gone from
   * it (lifted, edited away or expired while this process was down) and go here too.
   */
  dropUnconfirmed(): { bans: number; offences: number } {
    const h = this.host;
    const key = this.dropped;
    let bans = 0;
    let offences = 0;
    for (const st of h.states()) {
      const t = st.temp;
      for (let r = 0; r < t.end; r++) {
        if (!t.isLive(r) || !t.isUnconfirmed(r)) continue;
        const mask = t.maskOf(r);
        const fam = t.familyOf(r);
        const plen = t.prefixOf(r);
        key.set(t.keyBytes(r));
        h.metrics?.currentBans.dec({ pattern: t.pattern(r) ?? 'manual' });
        t.remove(r);
        h.syncTable(key, fam, plen, mask, mask === 0);
        bans++;
      }
      t.maybeCompact();
    }
    const o = h.offences;
    for (let r = 0; r < o.end; r++)
      if (o.isLive(r) && o.isUnconfirmed(r)) {
        o.remove(r);
        offences++;
      }
    o.maybeCompact();
    return { bans, offences };
  }

  /** Services as persisted (`imap,smtp`; null or '' = every one) with their mask; null when unusable. */
  private scopeOf(
    svc: string | null,
    ip: string | null,
  ): { services: readonly string[]; mask: number } | null {
    const services = svc === null || svc === '' ? NO_SERVICES : svc.split(',');
    if (services.length === 0) return { services, mask: 0 };
    try {
      return { services, mask: maskOf(this.host.table, services) };
    } catch (err) {
      this.host.log?.warn(
        { err: err as Error, ...(ip === null ? {} : { ip }), services },
        'persisted ban with unusable services skipped',
      );
      return null;
    }
  }

  /** A restored ban (key in `b16`; `prev` its row in the jail, -1 for none) into the columns and the table. */
  private put(
    st: JailState,
    prev: number,
    family: 4 | 6,
    prefixLen: number,
    added: Map<string, number>,
    f: TempBanFields & { mask: number },
  ): void {
    const b16 = this.b16;
    const prevMask = prev >= 0 ? st.temp.maskOf(prev) : 0;
    if (prev >= 0) this.host.metrics?.currentBans.dec({ pattern: st.temp.pattern(prev) ?? 'manual' });
    if (prev >= 0) st.temp.put(b16, family, prefixLen, f);
    else st.temp.putNew(b16, family, prefixLen, f);
    this.host.syncTable(b16, family, prefixLen, f.mask | prevMask, f.mask === 0 || prevMask === 0);
    const label = f.pattern ?? 'manual';
    added.set(label, (added.get(label) ?? 0) + 1);
  }

  /** The current-bans gauge moves once per pattern, not once per ban. */
  private count(added: Map<string, number>): void {
    const m = this.host.metrics;
    if (m) for (const [pattern, n] of added) m.currentBans.inc({ pattern }, n);
  }
}

/** Row `r` of `t` holds what persisted row `i` says (so the row needs no rewrite). */
function sameBan(t: TempBans, r: number, b: BanRows, i: number): boolean {
  const svc = b.services(i);
  return (
    t.expiresAt(r) === (b.expiresAt(i) ?? 0) &&
    t.createdAt(r) === b.createdAt(i) &&
    t.offencesOf(r) === b.offences(i) &&
    t.reasonOf(r) === b.reason(i) &&
    t.pattern(r) === b.pattern(i) &&
    t.createdByOf(r) === b.createdBy(i) &&
    t.node(r) === b.node(i) &&
    t.servicesText(r) === (svc === '' ? null : svc)
  );
}
