/**
 * Subnet aggregation: a jail with `subnet` bans a whole IPv4 prefix (`prefixV4`, /24 by default)
 * once `addresses` distinct addresses in it were banned by that jail within `window`. IPv6 bans
 * are per prefix already (`ban.ipv6_prefix`) and are left alone. Bans from the fleet count too:
 * addresses are counted distinct, so a ban seen from two nodes counts once. The prefix ban lasts
 * what the jail's policy gives that target (the engine's escalation).
 */
import { Counter, Gauge } from 'prom-client';
import type { BanEvent, BanRecord } from '../engine/types.js';
import { asError } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import { slotsWithin } from './ban-counter.js';
import type { BanMaker, JailBanOptions } from './recidive.js';
import { SlotMap } from './slots.js';
import { DEFAULT_JAIL, type JailSpec, type SubnetAggregation } from './types.js';

/** Prefixes one jail follows by default. */
export const SUBNET_MAX_PREFIXES = 65_536;
/** Most distinct addresses a prefix needs; a larger `addresses` counts as this many. */
export const MAX_SUBNET_ADDRESSES = 256;

/**
 * Distinct banned addresses per prefix within a window, for one jail: per prefix a ring of
 * addresses (u32) and their ban times in typed arrays; at most `capacity` prefixes, the least
 * recently banned forgotten first. Per prefix: `addresses` × 12 bytes + 1, plus the index entry.
 */
export class PrefixCounter {
  readonly need: number;
  readonly mask: number;
  private readonly slots: SlotMap<number>;
  private readonly addr: Uint32Array;
  private readonly at: Float64Array;
  private readonly n: Uint16Array;

  constructor(
    readonly conf: SubnetAggregation,
    capacity: number,
  ) {
    this.need = Math.min(Math.max(1, Math.floor(conf.addresses)), MAX_SUBNET_ADDRESSES);
    const p = Math.min(Math.max(0, Math.floor(conf.prefixV4)), 32);
    this.mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
    capacity = slotsWithin(capacity, this.need * 12 + 2);
    this.slots = new SlotMap(capacity);
    this.addr = new Uint32Array(capacity * this.need);
    this.at = new Float64Array(capacity * this.need);
    this.n = new Uint16Array(capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * Address `a` (u32) banned at `t`. Returns the distinct addresses of its prefix in the window
   * when they reach `addresses` (the prefix is then forgotten: its ban follows), else 0.
   */
  observe(a: number, t: number): number {
    const key = (a & this.mask) >>> 0;
    let s = this.slots.touch(key);
    if (s < 0) {
      s = this.slots.add(key);
      this.n[s] = 0;
    }
    const base = s * this.need;
    let kept = 0;
    let seen = false;
    for (let i = 0; i < this.n[s]; i++) {
      const x = this.addr[base + i];
      let when = this.at[base + i];
      if (x === a) {
        seen = true;
        when = Math.max(when, t);
      }
      if (when <= t - this.conf.window) continue;
      this.addr[base + kept] = x;
      this.at[base + kept] = when;
      kept++;
    }
    if (!seen) {
      this.addr[base + kept] = a;
      this.at[base + kept] = t;
      kept++;
    }
    if (kept < this.need) {
      this.n[s] = kept;
      return 0;
    }
    this.slots.delete(key);
    return kept;
  }

  /** Distinct addresses of `prefix` (u32, masked or not) counted in the window ending at `now`. */
  count(prefix: number, now: number): number {
    const s = this.slots.touch((prefix & this.mask) >>> 0);
    if (s < 0) return 0;
    let c = 0;
    for (let i = 0; i < this.n[s]; i++) if (this.at[s * this.need + i] > now - this.conf.window) c++;
    return c;
  }
}

interface Aggregator {
  spec: JailSpec;
  counter: PrefixCounter;
}

/** A plain IPv4 address (`1.2.3.4`, or `/32`) as u32; -1 for anything else. */
export function ipv4U32(target: string): number {
  const end = target.endsWith('/32') ? target.length - 3 : target.length;
  let v = 0;
  let part = -1;
  let dots = 0;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || dots === 3) return -1;
      v = v * 256 + part;
      part = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + (c - 48);
      if (part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || part < 0) return -1;
  return v * 256 + part;
}

function prefixText(prefix: number, len: number): string {
  return `${prefix >>> 24}.${(prefix >>> 16) & 255}.${(prefix >>> 8) & 255}.${prefix & 255}/${len}`;
}

export class SubnetBans {
  private aggregators: Aggregator[] = [];
  private specs: readonly JailSpec[] | null = null;
  private readonly jails?: () => readonly JailSpec[];
  private readonly maxPrefixes: number;
  private readonly unsubscribe: () => void;
  private banning = false;
  private readonly engine: BanMaker;
  private readonly throttle?: LogThrottle;
  private readonly m?: { bans: Counter<'jail' | 'shadow'>; tracked: Gauge<'jail'> };

  constructor(opts: JailBanOptions) {
    this.engine = opts.engine;
    this.jails = opts.jails;
    this.maxPrefixes = opts.maxTargets ?? SUBNET_MAX_PREFIXES;
    this.unsubscribe = opts.engine.onEvent((e) => this.onEvent(e));
    if (opts.log) this.throttle = new LogThrottle(opts.log);
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        bans: new Counter({
          name: 'edgeban_subnet_bans_total',
          help: 'IPv4 prefixes banned by subnet aggregation (shadow="true": would-be bans of shadow jails)',
          labelNames: ['jail', 'shadow'],
          registers,
        }),
        tracked: new Gauge({
          name: 'edgeban_subnet_tracked_prefixes',
          help: 'IPv4 prefixes whose banned addresses a jail is counting',
          labelNames: ['jail'],
          registers,
          collect: () => {
            this.m?.tracked.reset();
            for (const a of this.aggregators) this.m?.tracked.set({ jail: a.spec.name }, a.counter.size);
          },
        }),
      };
    }
  }

  /** Every enabled jail with `subnet` aggregates; one whose `subnet` is unchanged keeps its counts. */
  update(specs: readonly JailSpec[]): void {
    this.specs = specs;
    const old = new Map(this.aggregators.map((a) => [a.spec.name, a]));
    const next: Aggregator[] = [];
    for (const spec of specs) {
      if (!spec.enabled || !spec.subnet) continue;
      const prev = old.get(spec.name);
      const same =
        prev &&
        prev.spec.subnet?.prefixV4 === spec.subnet.prefixV4 &&
        prev.spec.subnet.addresses === spec.subnet.addresses &&
        prev.spec.subnet.window === spec.subnet.window;
      next.push({ spec, counter: same ? prev.counter : new PrefixCounter(spec.subnet, this.maxPrefixes) });
    }
    this.aggregators = next;
  }

  size(jail?: string): number {
    let n = 0;
    for (const a of this.aggregators) if (jail === undefined || a.spec.name === jail) n += a.counter.size;
    return n;
  }

  /** Distinct banned addresses `jail` counts for the prefix of `ip`. */
  count(jail: string, ip: string, now = Date.now()): number {
    const a = ipv4U32(ip);
    if (a < 0) return 0;
    return this.aggregators.find((g) => g.spec.name === jail)?.counter.count(a, now) ?? 0;
  }

  stop(): void {
    this.unsubscribe();
    this.throttle?.close();
  }

  /**
   * One ban event (local or from the fleet). Public for the benchmarks and tests. `quiet`:
   * counted, never banned (the counts rebuilt at start from bans already made).
   */
  observe(record: BanRecord, quiet = false): void {
    if (record.kind !== 'temp' || record.shadow) return;
    const jail = record.jail ?? DEFAULT_JAIL;
    let a = -2;
    for (const g of this.aggregators) {
      if (g.spec.name !== jail) continue;
      if (a === -2) a = ipv4U32(record.target);
      if (a < 0) return; // IPv6, or a prefix already
      const n = g.counter.observe(a, record.createdAt);
      if (n > 0 && !quiet) {
        const prefix = (a & g.counter.mask) >>> 0;
        queueMicrotask(() => this.ban(g.spec, prefixText(prefix, g.spec.subnet?.prefixV4 ?? 24), n));
      }
    }
  }

  private onEvent(e: BanEvent): void {
    if (e.type !== 'ban' || this.banning) return;
    const jails = this.jails?.();
    if (jails !== undefined && jails !== this.specs) this.update(jails);
    if (this.aggregators.length === 0) return;
    this.observe(e.record);
  }

  private ban(spec: JailSpec, prefix: string, n: number): void {
    const reason = `subnet: ${n} addresses of ${prefix} banned`;
    const shadow = spec.mode === 'shadow';
    this.m?.bans.inc({ jail: spec.name, shadow: String(shadow) });
    if (shadow) {
      this.throttle?.info(
        'subnet-shadow',
        spec.name,
        { ip: prefix, jail: spec.name, reason },
        'would ban (shadow jail)',
      );
      return;
    }
    this.banning = true;
    try {
      this.engine.ban(prefix, {
        jail: spec.name,
        reason,
        createdBy: 'engine',
        force: true,
      });
    } catch (err) {
      this.throttle?.warn(
        'subnet-ban',
        spec.name,
        { err: asError(err), ip: prefix, jail: spec.name },
        'subnet ban failed',
      );
    } finally {
      this.banning = false;
    }
  }
}
