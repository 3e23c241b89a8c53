import { Counter, Gauge } from 'prom-client';
import { type BanTable, Kind, type KindCode, LookupResult } from '../../shared/bantable/index.js';
import {
  canonicalCidr as canonical,
  cidrText,
  cidrCovers as covers,
  prefixEquals,
} from '../../shared/ip/cidr.js';
import { formatIp, maskInPlace, type ParsedCidr, parseCidr, parseIp } from '../../shared/ip/parse.js';
import type { Config } from '../config/types.js';
import type { JailSpec } from '../jails/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { BanEndings } from './endings.js';
import { PrefixTooShortError } from './errors.js';
import type { BanEndReason, EndedBanListener } from './history.js';
import { parseTargetInto } from './keyed-rows.js';
import { Offences, TempBans } from './records.js';
import { BanRecordRows, type BanRows, OffenceRecordRows, type OffenceRows } from './restore-rows.js';
import { StringPool } from './strings.js';
import { SWEEP_SLICE, SweepPass } from './sweep.js';
import { FailureTrackers } from './trackers.js';
import {
  type AddressStatus,
  type BanEngineApi,
  type BanEvent,
  type BanKind,
  type BanPolicy,
  type BanRecord,
  DEFAULT_JAIL,
  type FailureListener,
  type ListPage,
  type ListQuery,
  type OffenceRecord,
} from './types.js';

export interface BanEngineOptions {
  table: BanTable;
  policy: BanPolicy;
  /** Never banned (fail2ban's ignoreip): addresses or CIDRs. */
  ignoreIps: string[];
  /** IPv6 failures are counted and banned per this prefix. */
  ipv6Prefix: number;
  maxTracked: number;
  /** Shortest prefixes `ban`, `blacklistAdd` and `whitelistAdd` take without `force` (8 and 32). */
  minPrefixV4?: number;
  minPrefixV6?: number;
  nodeId: string;
  /** Clock in unix ms (tests inject one). */
  now?: () => number;
  log?: Logger;
  metrics?: Metrics;
}

type ListSource = 'api' | 'config' | 'database';

const KIND_CODE: Record<BanKind, KindCode> = {
  temp: Kind.TEMP_BAN,
  blacklist: Kind.BLACKLIST,
  whitelist: Kind.WHITELIST,
};

/**
 * The ban engine: the single writer of ban state. Counts failures per
 * address (per `ipv6Prefix` for IPv6) in `timeWindow`, bans at `maxAttempts` for
 * min(initial × factor^(n−1), max), restarts the count after a ban, remembers offences for
 * `maxMemoryTtl`, never bans ignored or whitelisted addresses, and reports every change as a
 * BanEvent for the store, the fleet and the API's event stream.
 */
export class BanEngine implements BanEngineApi {
  readonly table: BanTable;
  private policy: BanPolicy;
  private ignore: ParsedCidr[];
  private readonly ipv6Prefix: number;
  private readonly minPrefix: { 4: number; 6: number };
  private readonly nodeId: string;
  private readonly now: () => number;
  private readonly log?: Logger;
  private readonly trackers: FailureTrackers;
  /** Reasons, patterns, creators and nodes of the temporary bans, interned. */
  private readonly strings = new StringPool();
  private readonly offences = new Offences();
  private readonly temp = new TempBans(this.strings);
  private readonly lists = {
    blacklist: new Map<string, BanRecord & { source: ListSource }>(),
    whitelist: new Map<string, BanRecord & { source: ListSource }>(),
  };
  private readonly listeners = new Set<(e: BanEvent) => void>();
  private readonly failureListeners = new Set<FailureListener>();
  private readonly endings = new BanEndings((err) => this.log?.error({ err }, 'ended-ban listener failed'));
  private jails: readonly JailSpec[] = [];
  private readonly out = new LookupResult();
  /** The counted target (IPv4 address or masked IPv6 prefix) of the failure being recorded. */
  private readonly targetBytes = new Uint8Array(16);
  /** Where the restore parses each persisted target. */
  private readonly restoreBytes = new Uint8Array(16);
  private timer: NodeJS.Timeout | null = null;
  /** The sweep pass under way: where each part of it stands. */
  private pass: SweepPass | null = null;
  private slice: NodeJS.Immediate | null = null;
  private readonly m?: {
    metrics: Metrics;
    tracked: Gauge;
    evictions: Counter;
  };

  constructor(opts: BanEngineOptions) {
    this.table = opts.table;
    this.policy = { ...opts.policy };
    this.ignore = opts.ignoreIps.map((c) => parseCidr(c));
    this.ipv6Prefix = opts.ipv6Prefix;
    this.trackers = new FailureTrackers(opts.maxTracked, this.policy.maxAttempts, this.policy.timeWindow);
    this.minPrefix = { 4: opts.minPrefixV4 ?? 8, 6: opts.minPrefixV6 ?? 32 };
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        metrics: opts.metrics,
        tracked: new Gauge({
          name: 'edgeban_engine_tracked_addresses',
          help: 'Addresses (IPv6 prefixes) with failures being counted',
          registers,
          collect: () => this.m?.tracked.set(this.trackers.size),
        }),
        evictions: new Counter({
          name: 'edgeban_engine_tracking_evictions_total',
          help: 'Tracked addresses dropped because ban.max_tracked was reached',
          registers,
        }),
      };
    }
  }

  /** The options the `ban` section decides: policy, ignore_ips, ipv6_prefix, max_tracked. */
  static configOptions(
    ban: Config['ban'],
  ): Pick<
    BanEngineOptions,
    'policy' | 'ignoreIps' | 'ipv6Prefix' | 'maxTracked' | 'minPrefixV4' | 'minPrefixV6'
  > {
    return {
      policy: BanEngine.policyFromConfig(ban),
      ignoreIps: ban.ignore_ips,
      ipv6Prefix: ban.ipv6_prefix,
      maxTracked: ban.max_tracked,
      minPrefixV4: ban.min_prefix_v4,
      minPrefixV6: ban.min_prefix_v6,
    };
  }

  static policyFromConfig(ban: Config['ban']): BanPolicy {
    return {
      initialBanTime: ban.initial_ban_time,
      maxBanTime: ban.max_ban_time,
      escalationFactor: ban.escalation_factor,
      maxAttempts: ban.max_attempts,
      timeWindow: ban.time_window,
      cleanupInterval: ban.cleanup_interval,
      maxMemoryTtl: ban.max_memory_ttl,
    };
  }

  /**
   * Start the periodic sweep (expired bans, forgotten offences, idle trackers): each interval
   * starts a pass that runs in slices of bounded work, one per event-loop turn.
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.beginSweep(), this.policy.cleanupInterval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.slice) clearImmediate(this.slice);
    this.slice = null;
    this.pass?.close();
    this.pass = null;
  }

  /** Ban n lasts min(initial × factor^(n−1), max). */
  durationFor(n: number): number {
    const p = this.policy;
    return Math.min(p.initialBanTime * p.escalationFactor ** Math.max(0, n - 1), p.maxBanTime);
  }

  // --- failures from log lines -----------------------------------------------------------

  recordFailure(addr: Uint8Array, family: 4 | 6, pattern: string, timeMs: number): BanRecord | null {
    if (this.ignored(addr, family)) return null;
    const tb = this.targetBytes;
    const len = family === 4 ? 4 : 16;
    for (let i = 0; i < len; i++) tb[i] = addr[i];
    if (family === 6) maskInPlace(tb, this.ipv6Prefix);
    // one table lookup at the failure's own time: nothing there means no whitelist, no blacklist
    // and no active ban covers the target, so the exact checks (which need its text) are skipped
    this.table.checkBytes(tb, 0, len, Math.floor(timeMs / 1000), this.out);
    if (this.out.kind === Kind.WHITELIST) return null;
    const targetLen = family === 4 ? 32 : this.ipv6Prefix;
    if (this.out.kind !== Kind.NONE) {
      if (this.lists.blacklist.size > 0 && this.lists.blacklist.has(this.targetOf(tb, family).key))
        return null;
      const active = this.temp.find(tb, family, targetLen);
      if (active >= 0 && this.temp.expiresAt(active) > timeMs) return null; // banned: no extension, no escalation
    }
    return this.count(tb, family, pattern, timeMs, 1, true);
  }

  /** Count `weight` failures of the target in `targetBytes`; ban at the threshold. */
  private count(
    tb: Uint8Array,
    family: 4 | 6,
    pattern: string,
    timeMs: number,
    weight: number,
    local: boolean,
  ): BanRecord | null {
    const evicted = this.trackers.evictions;
    let n = 0;
    const times = Math.min(Math.max(1, weight), this.policy.maxAttempts);
    for (let i = 0; i < times; i++) n = this.trackers.record(tb, family, timeMs);
    if (this.trackers.evictions !== evicted) this.m?.evictions.inc();
    if (local && this.failureListeners.size > 0) {
      const plen = family === 4 ? 32 : this.ipv6Prefix;
      for (const l of this.failureListeners) l(DEFAULT_JAIL, tb, family, plen, times, timeMs);
    }
    if (n < this.policy.maxAttempts) return null;
    const count = Math.min(n, this.policy.maxAttempts);
    this.trackers.remove(tb, family); // the count starts again after a ban
    const target = this.targetOf(tb, family);
    const offences = this.nextOffence(target.cidr, target.key, timeMs);
    const duration = this.durationFor(offences);
    const record: BanRecord = {
      target: target.key,
      kind: 'temp',
      reason: `${count} failures (${pattern})`,
      pattern,
      createdAt: timeMs,
      expiresAt: timeMs + duration,
      createdBy: 'engine',
      offences,
      node: this.nodeId,
    };
    this.putTemp(record, target.cidr);
    this.log?.info(
      {
        ip: target.key,
        pattern,
        violations: count,
        duration: duration / 1000,
        ban_count: offences,
        expires: new Date(record.expiresAt ?? 0).toISOString(),
      },
      'IP banned',
    );
    return record;
  }

  // --- operations for the API ------------------------------------------------------------

  ban(
    target: string,
    opts: { durationMs?: number; reason?: string; createdBy?: string; permanent?: boolean; force?: boolean },
  ): BanRecord {
    if (opts.permanent)
      return this.blacklistAdd(target, { reason: opts.reason, createdBy: opts.createdBy, force: opts.force })
        .record;
    const cidr = parseCidr(target);
    const key = canonical(cidr);
    this.checkFloor(cidr, key, opts.force);
    const now = this.now();
    const offences = this.nextOffence(cidr, key, now);
    const duration = opts.durationMs && opts.durationMs > 0 ? opts.durationMs : this.durationFor(offences);
    const record: BanRecord = {
      target: key,
      kind: 'temp',
      reason: opts.reason || 'Manual ban via API',
      pattern: null,
      createdAt: now,
      expiresAt: now + duration,
      createdBy: opts.createdBy || 'api',
      offences,
      node: this.nodeId,
    };
    this.putTemp(record, cidr);
    this.log?.info(
      { ip: key, duration: duration / 1000, by: record.createdBy, reason: record.reason },
      'Manual ban applied',
    );
    return record;
  }

  unban(target: string, opts: { by?: string; reason?: string }): { temp: boolean; blacklist: boolean } {
    const cidr = parseCidr(target);
    const key = canonical(cidr);
    const temp = this.dropTemp(key, opts.by ?? 'api', opts.reason ?? 'Manual unban via API');
    const blacklist = this.blacklistRemove(key, opts);
    this.forgetTracker(cidr);
    if (temp || blacklist)
      this.log?.info({ ip: key, by: opts.by ?? 'api', temp, blacklist }, 'Manual unban applied');
    return { temp, blacklist };
  }

  /**
   * The entry hides the bans it covers (the whitelist wins every lookup) without lifting them:
   * removing it again brings back those that have not expired meanwhile.
   */
  whitelistAdd(
    target: string,
    opts: { reason?: string; createdBy?: string; force?: boolean },
  ): { record: BanRecord; added: boolean } {
    const r = this.listAdd('whitelist', target, opts, 'api');
    if (r.added) this.hiddenBy(r.cidr, r.record.createdBy);
    return { record: r.record, added: r.added };
  }

  whitelistRemove(target: string, opts: { by?: string; reason?: string }): boolean {
    return this.listRemove('whitelist', target, opts);
  }

  blacklistAdd(
    target: string,
    opts: { reason?: string; createdBy?: string; force?: boolean },
  ): { record: BanRecord; added: boolean } {
    const r = this.listAdd('blacklist', target, opts, 'api');
    return { record: r.record, added: r.added };
  }

  blacklistRemove(target: string, opts: { by?: string; reason?: string }): boolean {
    return this.listRemove('blacklist', target, opts);
  }

  list(kind: BanKind, query: ListQuery): ListPage {
    const offset = Math.max(0, query.offset ?? 0);
    const limit = Math.max(0, query.limit ?? 100);
    const now = this.now();
    const filter = query.filter?.trim() ? this.filterOf(query.filter.trim()) : null;
    const items: BanRecord[] = [];
    let total = 0;
    if (kind === 'temp') {
      const t = this.temp;
      for (let r = 0; r < t.end; r++) {
        // a ban under a whitelist entry is kept (it comes back when the entry goes) but not in force
        if (!t.isLive(r) || t.expiresAt(r) <= now || this.hidden(r)) continue;
        if (filter && !filter(t.targetText(r))) continue;
        if (total >= offset && items.length < limit) items.push(t.record(r));
        total++;
      }
      return { total, items };
    }
    for (const rec of this.lists[kind].values()) {
      if (filter && !filter(rec.target)) continue;
      if (total >= offset && items.length < limit) items.push(stripSource(rec));
      total++;
      // without a filter the total is known: stop walking once the page is full
      if (!filter && items.length === limit) {
        total = this.lists[kind].size;
        break;
      }
    }
    return { total, items };
  }

  status(ip: string): AddressStatus {
    const a = parseIp(ip);
    const now = this.now();
    const out = this.out;
    const v = this.table.checkBytes(a.bytes, 0, a.family === 4 ? 4 : 16, Math.floor(now / 1000), out);
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
        const row = this.temp.find(b, a.family, out.prefixLen);
        if (row >= 0) {
          reason = this.temp.reasonOf(row);
          expiresAt = this.temp.expiresAt(row);
        }
      } else reason = this.lists[kind].get(matched)?.reason;
    }
    const target = this.targetOf(a.bytes, a.family);
    const off = this.offences.find(target.cidr.bytes, a.family, target.cidr.prefixLen);
    return {
      ip: a.text,
      banned: v === 1,
      kind,
      matched,
      reason: reason ?? (kind ? this.table.reasonText(out.reasonId) || null : null),
      expiresAt: kind === 'temp' ? (expiresAt ?? out.expiresAt * 1000) : null,
      offences: off >= 0 ? this.offences.banCount(off) : 0,
      failures: this.trackers.failures(target.cidr.bytes, a.family, now),
    };
  }

  purgeTempBans(by: string): number {
    const now = this.now();
    let active = 0;
    const t = this.temp;
    for (let r = 0; r < t.end; r++) {
      if (!t.isLive(r)) continue;
      if (t.expiresAt(r) > now) active++;
      this.endTemp(r, 'purge', by, now);
      this.dropRow(r, by, 'purge');
    }
    t.maybeCompact();
    this.log?.info({ purged: active, by }, 'Purged all temporary bans');
    return active;
  }

  setPolicy(policy: BanPolicy): void {
    const intervalChanged = policy.cleanupInterval !== this.policy.cleanupInterval;
    this.policy = { ...policy };
    this.trackers.setPolicy(policy.maxAttempts, policy.timeWindow);
    if (intervalChanged && this.timer) {
      this.stop();
      this.start();
    }
  }

  setJails(jails: readonly JailSpec[]): void {
    this.jails = jails;
  }

  /** The jails last set (config and database). */
  getJails(): readonly JailSpec[] {
    return this.jails;
  }

  onFailure(listener: FailureListener): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  recordRemoteFailures(jail: string, target: string, weight: number, timeMs: number): BanRecord | null {
    if (jail !== DEFAULT_JAIL) return null;
    const t = parseTargetInto(target, this.targetBytes);
    if (t === null || t.prefixLen !== (t.family === 4 ? 32 : this.ipv6Prefix)) return null;
    const tb = this.targetBytes;
    if (this.ignored(tb, t.family)) return null;
    this.table.checkBytes(tb, 0, t.family === 4 ? 4 : 16, Math.floor(timeMs / 1000), this.out);
    if (this.out.kind !== Kind.NONE) return null; // whitelisted, listed or banned already
    return this.count(tb, t.family, 'fleet', timeMs, weight, false);
  }

  /** Replace `ban.ignore_ips` (config reload). */
  setIgnoreIps(cidrs: string[]): void {
    this.ignore = cidrs.map((c) => parseCidr(c));
  }

  getPolicy(): BanPolicy {
    return { ...this.policy };
  }

  applyRemote(e: Extract<BanEvent, { type: 'ban' | 'unban' }>): boolean {
    const now = this.now();
    if (e.type === 'ban') {
      const r = e.record;
      const cidr = parseCidr(r.target);
      const key = canonical(cidr);
      const record: BanRecord = { ...r, target: key };
      if (r.kind === 'temp') {
        if ((r.expiresAt ?? 0) <= now) return false;
        // this node's ban.ignore_ips are never banned here, whoever asks
        if (this.ignored(cidr.bytes, cidr.family)) return false;
        const known = this.temp.find(cidr.bytes, cidr.family, cidr.prefixLen);
        if (known >= 0 && this.temp.expiresAt(known) >= (r.expiresAt ?? 0)) return false;
        this.putTemp(record, cidr, false);
        // escalation is fleet-wide: the next offence here continues from the other node's count
        const o = this.offences.find(cidr.bytes, cidr.family, cidr.prefixLen);
        if (o < 0 || this.offences.banCount(o) < r.offences)
          this.offences.put(cidr.bytes, cidr.family, cidr.prefixLen, r.offences, r.createdAt);
        this.forgetTracker(cidr);
      } else {
        if (this.lists[r.kind].has(key)) return false;
        // the entry lives in the shared database's lists: the next policy reload owns it
        // a whitelist entry hides the bans it covers here too, without lifting them
        this.putList(r.kind, { ...record, source: 'database' }, cidr);
      }
      this.emit({ type: 'ban', record: { ...record }, origin: 'fleet' });
      return true;
    }
    const key = canonical(parseCidr(e.target));
    if (e.kind === 'temp') {
      if (!this.dropTemp(key, e.by, e.reason, false)) return false;
    } else {
      // an entry of this node's own config file is not the other node's to remove
      const entry = this.lists[e.kind].get(key);
      if (!entry || entry.source === 'config') return false;
      this.unlist(e.kind, key);
    }
    this.emit({ ...e, target: key, origin: 'fleet' });
    return true;
  }

  /**
   * Temporary bans that came from other nodes, made before `before` (unix ms): the fleet
   * reconciles them with the shared table after an outage.
   */
  remoteTempBans(before = Number.POSITIVE_INFINITY): BanRecord[] {
    const out: BanRecord[] = [];
    const t = this.temp;
    for (let r = 0; r < t.end; r++)
      if (t.isLive(r) && t.createdAt(r) < before && t.node(r) !== this.nodeId) out.push(t.record(r));
    return out;
  }

  get node(): string {
    return this.nodeId;
  }

  restore(bans: BanRecord[], offences: OffenceRecord[]): void {
    const temp: BanRecord[] = [];
    for (const b of bans) {
      if (b.kind === 'temp') temp.push(b);
      else this.putList(b.kind, { ...b, source: 'api' }, parseCidr(b.target));
    }
    this.restoreRows(new BanRecordRows(temp), new OffenceRecordRows(offences));
  }

  /**
   * Start-up from persisted rows `from` to `to` (temporary bans and offence memory): each goes
   * straight into the columns and the table, without an object per ban; targets in `skip`
   * (changed since, by a newer source) are left alone. The current-bans gauge moves once per
   * pattern, not once per ban.
   */
  restoreRows(
    bans: BanRows,
    offences: OffenceRows,
    from = 0,
    to = Number.POSITIVE_INFINITY,
    skip?: ReadonlySet<string>,
  ): void {
    const now = this.now();
    const ttl = this.policy.maxMemoryTtl;
    const skipping = skip !== undefined && skip.size > 0;
    for (let i = from, end = Math.min(to, offences.length); i < end; i++) {
      const last = offences.lastOffence(i);
      if (now - last >= ttl) continue;
      const target = offences.target(i);
      if (skipping && skip.has(target)) continue;
      this.offences.putText(target, offences.banCount(i), last);
    }
    const b16 = this.restoreBytes;
    const added = new Map<string, number>();
    for (let i = from, end = Math.min(to, bans.length); i < end; i++) {
      const expiresAt = bans.expiresAt(i) ?? 0;
      if (expiresAt <= now) continue;
      const target = bans.target(i);
      if (skipping && skip.has(target)) continue;
      const t = parseTargetInto(target, b16);
      if (t === null) {
        this.log?.warn({ ip: target }, 'persisted ban with an unreadable target skipped');
        continue;
      }
      const prev = this.temp.find(b16, t.family, t.prefixLen);
      if (prev >= 0) this.m?.metrics.currentBans.dec({ pattern: this.temp.pattern(prev) ?? 'manual' });
      const pattern = bans.pattern(i);
      const offences = bans.offences(i);
      this.temp.put(b16, t.family, t.prefixLen, {
        reason: bans.reason(i),
        pattern,
        createdAt: bans.createdAt(i),
        expiresAt,
        createdBy: bans.createdBy(i),
        offences,
        node: bans.node(i),
      });
      const label = pattern ?? 'manual';
      this.table.set(
        b16,
        t.family,
        t.prefixLen,
        Kind.TEMP_BAN,
        Math.ceil(expiresAt / 1000),
        offences,
        this.table.reasonId(label),
      );
      added.set(label, (added.get(label) ?? 0) + 1);
    }
    if (this.m) for (const [pattern, n] of added) this.m.metrics.currentBans.inc({ pattern }, n);
  }

  replaceLists(source: 'config' | 'database', entries: BanRecord[]): void {
    const wanted = new Set(entries.map((e) => `${e.kind}|${canonical(parseCidr(e.target))}`));
    for (const kind of ['blacklist', 'whitelist'] as const) {
      for (const [key, rec] of [...this.lists[kind]]) {
        if (rec.source === source && !wanted.has(`${kind}|${key}`)) this.unlist(kind, key);
      }
    }
    for (const e of entries) {
      if (e.kind === 'temp') continue;
      const cidr = parseCidr(e.target);
      const key = canonical(cidr);
      const known = this.lists[e.kind].get(key);
      if (known?.source === 'api') continue; // an operator's entry stays theirs
      if (!known && cidr.prefixLen < this.minPrefix[cidr.family])
        this.log?.warn(
          { ip: key, kind: e.kind, source, min_prefix: this.minPrefix[cidr.family] },
          `${e.kind} entry ${key} is wider than ban.min_prefix_v${cidr.family}; applied as listed`,
        );
      this.putList(e.kind, { ...e, target: key, source }, cidr);
    }
  }

  onEvent(listener: (e: BanEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onBanEnded(listener: EndedBanListener): () => void {
    return this.endings.on(listener);
  }

  /**
   * Expired bans out, forgotten offences out, idle trackers out, all of it now, in one go (tests,
   * shutdown). Returns bans expired. The timer runs the same pass in bounded slices instead.
   */
  sweep(): number {
    if (this.slice) clearImmediate(this.slice);
    this.slice = null;
    this.pass?.close();
    this.pass = null;
    const pass = this.newPass();
    pass.step(this.now(), Number.POSITIVE_INFINITY);
    pass.close();
    return pass.expired;
  }

  /** Tracked addresses dropped because ban.max_tracked was reached. */
  get evictions(): number {
    return this.trackers.evictions;
  }

  /** Addresses being counted (for stats). */
  get trackedCount(): number {
    return this.trackers.size;
  }

  get activeTempBans(): number {
    return this.temp.size;
  }

  // --- internals ---------------------------------------------------------------------------

  private emit(e: BanEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log?.error({ err }, 'ban event listener failed');
      }
    }
  }

  private ignored(addr: Uint8Array, family: 4 | 6): boolean {
    for (const c of this.ignore)
      if (c.family === family && prefixEquals(addr, c.bytes, c.prefixLen)) return true;
    return false;
  }

  /** IPv4: the address; IPv6: its `ipv6Prefix` network (one host can rotate through a /64). */
  private targetOf(addr: Uint8Array, family: 4 | 6): { key: string; cidr: ParsedCidr } {
    if (family === 4) {
      const bytes = addr.slice(0, 4);
      const text = formatIp(bytes, 4);
      return { key: text, cidr: { family: 4, bytes, text, prefixLen: 32 } };
    }
    const bytes = addr.slice(0, 16);
    maskInPlace(bytes, this.ipv6Prefix);
    const text = formatIp(bytes, 6);
    const cidr: ParsedCidr = {
      family: 6,
      bytes,
      text: `${text}/${this.ipv6Prefix}`,
      prefixLen: this.ipv6Prefix,
    };
    return { key: canonical(cidr), cidr };
  }

  private nextOffence(cidr: ParsedCidr, key: string, now: number): number {
    const o = this.offences;
    const prev = o.find(cidr.bytes, cidr.family, cidr.prefixLen);
    const n = prev >= 0 && now - o.lastOffence(prev) < this.policy.maxMemoryTtl ? o.banCount(prev) + 1 : 1;
    o.put(cidr.bytes, cidr.family, cidr.prefixLen, n, now);
    this.emit({ type: 'offence', record: { target: key, banCount: n, lastOffence: now } });
    return n;
  }

  private putTemp(record: BanRecord, cidr: ParsedCidr, emit = true): void {
    const prev = this.temp.find(cidr.bytes, cidr.family, cidr.prefixLen);
    if (prev >= 0) {
      this.m?.metrics.currentBans.dec({ pattern: this.temp.pattern(prev) ?? 'manual' });
      if (emit) this.endTemp(prev, 'replaced', record.createdBy, this.now());
    }
    this.temp.put(cidr.bytes, cidr.family, cidr.prefixLen, {
      reason: record.reason,
      pattern: record.pattern,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt ?? 0,
      createdBy: record.createdBy,
      offences: record.offences,
      node: record.node,
    });
    const reasonId = this.table.reasonId(record.pattern ?? 'manual');
    this.table.set(
      cidr.bytes,
      cidr.family,
      cidr.prefixLen,
      Kind.TEMP_BAN,
      Math.ceil((record.expiresAt ?? 0) / 1000),
      record.offences,
      reasonId,
    );
    const pattern = record.pattern ?? 'manual';
    this.m?.metrics.currentBans.inc({ pattern });
    if (!emit) return;
    this.m?.metrics.bans.inc({ pattern });
    this.m?.metrics.jailBans.inc({ jail: record.jail ?? DEFAULT_JAIL });
    this.m?.metrics.banDuration.observe({ pattern }, ((record.expiresAt ?? 0) - record.createdAt) / 1000);
    this.emit({ type: 'ban', record: { ...record } });
  }

  private dropTemp(key: string, by: string, reason: string, emit = true): boolean {
    const row = this.temp.findText(key);
    if (row < 0) return false;
    // a change another node made is that node's history
    if (emit) this.endTemp(row, 'unban', by, this.now());
    this.dropRow(row, by, reason, emit);
    return true;
  }

  private dropRow(row: number, by: string, reason: string, emit = true): void {
    const t = this.temp;
    const key = emit ? t.targetText(row) : '';
    this.m?.metrics.currentBans.dec({ pattern: t.pattern(row) ?? 'manual' });
    this.table.delete(t.keyBytes(row), t.familyOf(row), t.prefixOf(row), Kind.TEMP_BAN);
    t.remove(row);
    if (emit) this.emit({ type: 'unban', target: key, kind: 'temp', by, reason, at: this.now() });
  }

  private listAdd(
    kind: 'blacklist' | 'whitelist',
    target: string,
    opts: { reason?: string; createdBy?: string; force?: boolean },
    source: ListSource,
  ): { record: BanRecord; added: boolean; cidr: ParsedCidr } {
    const cidr = parseCidr(target);
    const key = canonical(cidr);
    this.checkFloor(cidr, key, opts.force);
    const existing = this.lists[kind].get(key);
    if (existing) return { record: stripSource(existing), added: false, cidr };
    const record: BanRecord = {
      target: key,
      kind,
      reason: opts.reason || (kind === 'whitelist' ? 'Manual whitelist via API' : 'Manual ban via API'),
      pattern: null,
      createdAt: this.now(),
      expiresAt: null,
      createdBy: opts.createdBy || 'api',
      offences: 0,
      node: this.nodeId,
    };
    this.putList(kind, { ...record, source }, cidr);
    this.emit({ type: 'ban', record: { ...record } });
    return { record, added: true, cidr };
  }

  private putList(
    kind: 'blacklist' | 'whitelist',
    rec: BanRecord & { source: ListSource },
    cidr: ParsedCidr,
  ): void {
    this.lists[kind].set(rec.target, rec);
    this.table.set(
      cidr.bytes,
      cidr.family,
      cidr.prefixLen,
      KIND_CODE[kind],
      0,
      0,
      this.table.reasonId(rec.reason),
    );
  }

  private listRemove(
    kind: 'blacklist' | 'whitelist',
    target: string,
    opts: { by?: string; reason?: string },
  ): boolean {
    const key = canonical(parseCidr(target));
    const entry = this.lists[kind].get(key);
    if (!entry) return false;
    if (kind === 'blacklist') this.endings.record(stripSource(entry), 'unban', opts.by ?? 'api', this.now());
    this.unlist(kind, key);
    this.emit({
      type: 'unban',
      target: key,
      kind,
      by: opts.by ?? 'api',
      reason: opts.reason ?? '',
      at: this.now(),
    });
    return true;
  }

  private unlist(kind: 'blacklist' | 'whitelist', key: string): void {
    this.lists[kind].delete(key);
    const c = parseCidr(key);
    this.table.delete(c.bytes, c.family, c.prefixLen, KIND_CODE[kind]);
  }

  private newPass(): SweepPass {
    return new SweepPass({
      temp: this.temp,
      offences: this.offences,
      trackers: this.trackers,
      table: this.table,
      maxMemoryTtl: () => this.policy.maxMemoryTtl,
      expired: (pattern) => this.m?.metrics.currentBans.dec({ pattern: pattern ?? 'manual' }),
      ending: this.endings.active ? (row, now) => this.expiring(row, now) : null,
      forgotten: (target, at) => this.emit({ type: 'forget', target, at }),
    });
  }

  /** A timer tick: start a pass unless one is still running, and run its first slice. */
  private beginSweep(): void {
    if (this.pass) return;
    this.pass = this.newPass();
    this.runSlice();
  }

  private runSlice(): void {
    this.slice = null;
    if (!this.pass) return;
    if (this.pass.step(this.now(), SWEEP_SLICE)) this.pass = null;
    else this.slice = setImmediate(() => this.runSlice());
  }

  /** Refuses a prefix wider than the floor of its family unless forced. */
  private checkFloor(cidr: ParsedCidr, key: string, force: boolean | undefined): void {
    const floor = this.minPrefix[cidr.family];
    if (!force && cidr.prefixLen < floor)
      throw new PrefixTooShortError(key, cidr.prefixLen, floor, cidr.family);
  }

  /** Drops the failure count of a target when it is one the engine counts (address, IPv6 prefix). */
  private forgetTracker(cidr: ParsedCidr): void {
    const counted = cidr.family === 4 ? cidr.prefixLen === 32 : cidr.prefixLen === this.ipv6Prefix;
    if (counted) this.trackers.remove(cidr.bytes, cidr.family);
  }

  /**
   * The sweep drops an expired ban: history for the node that made it (each node of a fleet
   * expires its copy), unless a whitelist entry hid it already (that was its end).
   */
  private expiring(row: number, now: number): void {
    if (this.temp.node(row) !== this.nodeId) return;
    this.endTemp(row, 'expired', 'engine', now);
  }

  /** A temporary ban ends here: its history row, unless a whitelist entry had hidden it (its end then). */
  private endTemp(row: number, reason: BanEndReason, by: string, now: number): void {
    if (!this.endings.active || this.hidden(row)) return;
    this.endings.tempRow(this.temp, row, reason, by, now);
  }

  /** A new whitelist entry hides the temporary bans it covers: each ends there. */
  private hiddenBy(wl: ParsedCidr, by: string): void {
    if (!this.endings.active) return;
    const t = this.temp;
    const now = this.now();
    if (wl.prefixLen === (wl.family === 4 ? 32 : 128)) {
      const row = t.find(wl.bytes, wl.family, wl.prefixLen);
      if (row >= 0 && t.expiresAt(row) > now) this.endings.tempRow(t, row, 'whitelist', by, now);
      return;
    }
    for (let r = 0; r < t.end; r++) {
      if (!t.isLive(r) || t.expiresAt(r) <= now || t.familyOf(r) !== wl.family) continue;
      const c: ParsedCidr = { family: wl.family, bytes: t.keyBytes(r), prefixLen: t.prefixOf(r), text: '' };
      if (covers(wl, c)) this.endings.tempRow(t, r, 'whitelist', by, now);
    }
  }

  /** True when a whitelist entry covers the whole of this temporary ban's target. */
  private hidden(row: number): boolean {
    const wl = this.lists.whitelist;
    if (wl.size === 0) return false;
    const t = this.temp;
    const family = t.familyOf(row);
    const prefixLen = t.prefixOf(row);
    const bytes = t.keyBytes(row);
    if (prefixLen === (family === 4 ? 32 : 128)) {
      this.table.checkBytes(bytes, 0, family === 4 ? 4 : 16, 0, this.out);
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

function stripSource(r: BanRecord & { source?: ListSource }): BanRecord {
  const { source: _source, ...rest } = r;
  return rest;
}
