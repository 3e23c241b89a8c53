import { formatIp, maskInPlace, parseIp } from '../../shared/ip/parse.js';
import { type BanEvent, DEFAULT_JAIL } from '../engine/types.js';

/** A ban or unban as the console shows it (the API's field names). */
export interface ConsoleEvent {
  id: number;
  type: 'ban' | 'unban';
  at: number;
  ip: string;
  kind: string;
  reason: string;
  pattern: string | null;
  expiresAt: number | null;
  by: string;
  offences: number;
  node: string;
  origin: 'local' | 'fleet';
  /** The jail of the policy that made it: every ban is `default` until jails exist. */
  jail: string;
}

const WINDOW_MS = 3600_000;
/** Distinct prefixes and offenders kept for the top lists; the least seen go first past it. */
const MAX_KEYS = 20_000;

/** The /24 of an IPv4 address or the /64 of an IPv6 one, as text (bans of prefixes: themselves). */
export function prefixOf(target: string): string {
  if (target.includes('/')) return target;
  let a: ReturnType<typeof parseIp>;
  try {
    a = parseIp(target);
  } catch {
    return target;
  }
  const b = a.bytes.slice();
  const len = a.family === 4 ? 24 : 64;
  maskInPlace(b, len);
  return `${formatIp(b, a.family)}/${len}`;
}

/** Counts per key over the last hour, in minute buckets, bounded in keys. */
class HourCounts {
  private readonly counts = new Map<string, { total: number; buckets: Map<number, number> }>();

  add(key: string, at: number, n = 1): void {
    let c = this.counts.get(key);
    if (c === undefined) {
      if (this.counts.size >= MAX_KEYS) this.evictSmallest();
      c = { total: 0, buckets: new Map() };
      this.counts.set(key, c);
    }
    const minute = Math.floor(at / 60_000);
    c.buckets.set(minute, (c.buckets.get(minute) ?? 0) + n);
    c.total += n;
  }

  /** Drops minutes older than the hour; keys with nothing left go. */
  expire(now: number): void {
    const oldest = Math.floor((now - WINDOW_MS) / 60_000);
    for (const [k, c] of this.counts) {
      for (const [m, n] of c.buckets) {
        if (m >= oldest) continue;
        c.buckets.delete(m);
        c.total -= n;
      }
      if (c.total <= 0) this.counts.delete(k);
    }
  }

  top(n: number): { key: string; count: number }[] {
    return [...this.counts]
      .map(([key, c]) => ({ key, count: c.total }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
      .slice(0, n);
  }

  /** Every key with its count in the window (for grouping: top per jail). */
  *totals(): IterableIterator<[string, number]> {
    for (const [k, c] of this.counts) yield [k, c.total];
  }

  private evictSmallest(): void {
    let worst: string | null = null;
    let least = Number.POSITIVE_INFINITY;
    let seen = 0;
    // a sample of the keys: exact eviction would scan 20k keys per new one
    for (const [k, c] of this.counts) {
      if (c.total < least) {
        least = c.total;
        worst = k;
      }
      if (++seen >= 64) break;
    }
    if (worst !== null) this.counts.delete(worst);
  }
}

/**
 * What the console shows of the last hour's bans: the newest events (bounded ring), the
 * prefixes and addresses banned most, and per-pattern bans. Fed by the engine's events, so
 * nothing here walks the ban table.
 */
export class RecentBans {
  private readonly ring: (ConsoleEvent | undefined)[];
  private head = 0;
  private count = 0;
  private nextId = 1;
  private readonly prefixes = new HourCounts();
  private readonly offenders = new HourCounts();
  private readonly patterns = new HourCounts();
  private readonly jails = new HourCounts();
  /** `jail \0 address`: the offenders of each jail, within the same bound of keys. */
  private readonly jailOffenders = new HourCounts();

  constructor(readonly capacity = 1000) {
    this.ring = new Array(capacity);
  }

  /** The console view of an engine event; null for events it does not show. */
  static view(e: BanEvent): Omit<ConsoleEvent, 'id'> | null {
    if (e.type === 'ban') {
      const r = e.record;
      return {
        type: 'ban',
        at: r.createdAt,
        ip: r.target,
        kind: r.kind,
        reason: r.reason,
        pattern: r.pattern,
        expiresAt: r.expiresAt,
        by: r.createdBy,
        offences: r.offences,
        node: r.node,
        origin: e.origin ?? 'local',
        jail: r.jail ?? DEFAULT_JAIL,
      };
    }
    if (e.type === 'unban')
      return {
        type: 'unban',
        at: e.at,
        ip: e.target,
        kind: e.kind,
        reason: e.reason,
        pattern: null,
        expiresAt: null,
        by: e.by,
        offences: 0,
        node: '',
        origin: e.origin ?? 'local',
        jail: e.jail ?? DEFAULT_JAIL,
      };
    return null;
  }

  add(v: Omit<ConsoleEvent, 'id'>): ConsoleEvent {
    const e: ConsoleEvent = { ...v, id: this.nextId++ };
    this.ring[(this.head + this.count) % this.capacity] = e;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
    if (e.type === 'ban' && e.kind === 'temp') {
      this.prefixes.add(prefixOf(e.ip), e.at);
      this.offenders.add(e.ip, e.at);
      this.patterns.add(e.pattern ?? 'manual', e.at);
      this.jails.add(e.jail, e.at);
      this.jailOffenders.add(`${e.jail}\0${e.ip}`, e.at);
    }
    return e;
  }

  /**
   * Newest first; `ip` keeps the events of that address (or the prefix that covers it), `jail`
   * those of that jail.
   */
  latest(limit: number, ip?: string, jail?: string): ConsoleEvent[] {
    const out: ConsoleEvent[] = [];
    const prefix = ip === undefined ? undefined : prefixOf(ip);
    for (let k = this.count - 1; k >= 0 && out.length < limit; k--) {
      const e = this.ring[(this.head + k) % this.capacity] as ConsoleEvent;
      if (ip !== undefined && e.ip !== ip && e.ip !== prefix) continue;
      if (jail !== undefined && e.jail !== jail) continue;
      out.push(e);
    }
    return out;
  }

  expire(now: number): void {
    this.prefixes.expire(now);
    this.offenders.expire(now);
    this.patterns.expire(now);
    this.jails.expire(now);
    this.jailOffenders.expire(now);
  }

  /** Per jail: its bans in the last hour and its `n` most banned addresses. */
  byJail(n: number): Map<string, { bans: number; offenders: { ip_address: string; bans: number }[] }> {
    const out = new Map<string, { bans: number; offenders: { ip_address: string; bans: number }[] }>();
    for (const [jail, bans] of this.jails.totals()) out.set(jail, { bans, offenders: [] });
    for (const [key, bans] of this.jailOffenders.totals()) {
      const cut = key.indexOf('\0');
      const j = out.get(key.slice(0, cut));
      if (j === undefined) continue;
      const list = j.offenders;
      const ip = key.slice(cut + 1);
      // keep the n largest, sorted: lists are short
      let at = list.length;
      while (
        at > 0 &&
        (list[at - 1].bans < bans || (list[at - 1].bans === bans && list[at - 1].ip_address > ip))
      )
        at--;
      if (at >= n) continue;
      list.splice(at, 0, { ip_address: ip, bans });
      if (list.length > n) list.pop();
    }
    return out;
  }

  tops(n: number) {
    return {
      prefixes: this.prefixes.top(n).map((x) => ({ prefix: x.key, bans: x.count })),
      offenders: this.offenders.top(n).map((x) => ({ ip_address: x.key, bans: x.count })),
      patterns: this.patterns.top(n).map((x) => ({ pattern: x.key, bans: x.count })),
    };
  }
}
