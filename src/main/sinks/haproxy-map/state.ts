import { maskInPlace, type ParsedCidr, parseCidr } from '../../../shared/ip/parse.js';
import type { BanEngineApi, BanEvent } from '../../engine/types.js';
import { DEFAULT_JAIL } from '../../jails/types.js';

/**
 * What a map entry says: `banned` (temporary ban), `blacklisted` (permanent), `allowed` (a
 * whitelist entry; it carves an exception out of a wider ban, since HAProxy's map_ip returns the
 * longest matching prefix). The example ACLs deny on `banned` and `blacklisted` only.
 */
export type MapValue = 'banned' | 'blacklisted' | 'allowed';

/** A change to the wanted map: `value` null = the entry goes. `at`: when it was decided (ms). */
export type MapChange = (target: string, value: MapValue | null, at: number) => void;

/**
 * The map as it should be, derived from the engine: temporary bans, blacklist and whitelist
 * entries. Ban and unban events update it at once (O(1) plus the whitelist check); expiry, which
 * the engine does not report, is a scan once a second in bounded slices; `reconcile` rebuilds it from the engine's
 * lists and reports only the differences (start-up, restore from the database, list reloads,
 * whitelist changes, which may hide or reveal any number of bans).
 */
export class BanMapState {
  /** Wanted entries: target (canonical address or CIDR) → value. */
  readonly entries = new Map<string, MapValue>();
  private readonly temp = new Map<string, number>();
  private readonly black = new Set<string>();
  private readonly white = new Map<string, ParsedCidr>();
  private readonly listeners: MapChange[] = [];
  /** The expiry pass under way (Map iterators survive deletions and see later additions). */
  private pass: Iterator<[string, number]> | null = null;
  /** Temporary bans taken out by expiry so far. */
  expired = 0;

  constructor(
    private readonly engine: Pick<BanEngineApi, 'list'>,
    private readonly now: () => number = Date.now,
  ) {}

  onChange(l: MapChange): void {
    this.listeners.push(l);
  }

  /** One engine event; whitelist changes ask for a reconcile (returns true then). */
  handle(e: BanEvent): boolean {
    if (e.type === 'ban') {
      const r = e.record;
      // the map has no notion of service: only bans of every service go in; would-be bans never
      if (r.kind === 'temp' && (r.shadow === true || (r.services?.length ?? 0) > 0)) return false;
      if (r.kind === 'whitelist') return true;
      if (r.kind === 'temp') this.temp.set(r.target, r.expiresAt ?? 0);
      else this.black.add(r.target);
      this.update(r.target);
    } else if (e.type === 'unban') {
      if (e.kind === 'whitelist') return true;
      if (e.kind === 'temp' && e.shadow === true) return false;
      // another jail may still ban the target everywhere: the engine's lists say
      if (e.kind === 'temp' && e.jail !== undefined && e.jail !== DEFAULT_JAIL) return true;
      if (e.kind === 'temp') this.temp.delete(e.target);
      else this.black.delete(e.target);
      this.update(e.target);
    }
    return false;
  }

  /**
   * Temporary bans whose time is up leave the map: looks at `budget` bans at most, resuming where
   * the last call stopped (a pass over 1M bans must not hold the event loop). Returns true once
   * the pass is complete; `expired` counts what it took out.
   */
  expire(budget = Number.POSITIVE_INFINITY): boolean {
    if (!this.pass) this.pass = this.temp.entries();
    const now = this.now();
    for (let left = budget; left > 0; left--) {
      const r = this.pass.next();
      if (r.done) {
        this.pass = null;
        return true;
      }
      const [t, exp] = r.value;
      if (exp > now) continue;
      this.temp.delete(t);
      this.update(t);
      this.expired++;
    }
    return false;
  }

  /** Rebuild from the engine's lists; only differences are reported. */
  reconcile(): void {
    const all = { limit: Number.MAX_SAFE_INTEGER };
    this.pass = null;
    this.temp.clear();
    this.black.clear();
    this.white.clear();
    for (const r of this.engine.list('whitelist', all).items) this.white.set(r.target, parseCidr(r.target));
    for (const r of this.engine.list('blacklist', all).items) this.black.add(r.target);
    for (const r of this.engine.list('temp', all).items) {
      if ((r.services?.length ?? 0) > 0) continue;
      const had = this.temp.get(r.target) ?? 0;
      if ((r.expiresAt ?? 0) > had) this.temp.set(r.target, r.expiresAt ?? 0);
    }
    const seen = new Set<string>();
    for (const t of this.white.keys()) seen.add(t);
    for (const t of this.black) seen.add(t);
    for (const t of this.temp.keys()) seen.add(t);
    for (const t of this.entries.keys()) seen.add(t);
    for (const t of seen) this.update(t);
  }

  private valueOf(target: string): MapValue | null {
    if (this.white.has(target)) return 'allowed';
    const black = this.black.has(target);
    const temp = (this.temp.get(target) ?? 0) > this.now();
    if (!black && !temp) return null;
    if (this.white.size > 0 && this.whitelisted(target)) return null;
    return black ? 'blacklisted' : 'banned';
  }

  /** A whitelist entry covers the whole target: the engine lets it through, so must the map. */
  private whitelisted(target: string): boolean {
    const c = parseCidr(target);
    for (const w of this.white.values()) {
      if (w.family !== c.family || c.prefixLen < w.prefixLen) continue;
      const b = c.bytes.slice();
      maskInPlace(b, w.prefixLen);
      let same = true;
      for (let i = 0; i < b.length && same; i++) same = b[i] === w.bytes[i];
      if (same) return true;
    }
    return false;
  }

  private update(target: string): void {
    const v = this.valueOf(target);
    const had = this.entries.get(target);
    if (v === (had ?? null)) return;
    if (v === null) this.entries.delete(target);
    else this.entries.set(target, v);
    const at = this.now();
    for (const l of this.listeners) l(target, v, at);
  }
}

/** The map file's text: one `key value` line per entry, as HAProxy reads it at start. */
export function mapFileText(entries: Iterable<[string, MapValue]>): string {
  let s = '';
  for (const [k, v] of entries) s += `${k} ${v}\n`;
  return s;
}
