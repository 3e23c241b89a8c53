import { Counter, Gauge } from 'prom-client';
import { type BanTable, Kind, type KindCode, LookupResult } from '../../shared/bantable/index.js';
import { normalizeService } from '../../shared/bantable/services.js';
import { canonicalCidr as canonical, cidrCovers as covers, prefixEquals } from '../../shared/ip/cidr.js';
import { formatIp, maskInPlace, type ParsedCidr, parseCidr } from '../../shared/ip/parse.js';
import type { Config } from '../config/types.js';
import { JailRouter, type PatternInfo } from '../jails/registry.js';
import type { JailSpec } from '../jails/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { BanEndings } from './endings.js';
import { InvalidServiceError, PrefixTooShortError, UnknownJailError } from './errors.js';
import type { BanEndReason, EndedBanListener } from './history.js';
import { JailState, maskOf, syncScopes, trackedPerJail } from './jail-state.js';
import { parseTargetInto } from './keyed-rows.js';
import { RecentLines } from './recent-lines.js';
import { Offences, type TempBans } from './records.js';
import { Restorer } from './restore.js';
import { BanRecordRows, type BanRows, OffenceRecordRows, type OffenceRows } from './restore-rows.js';
import { type EngineSnapshot, encodeSnapshot } from './snapshot.js';
import { StringPool } from './strings.js';
import { SWEEP_SLICE, SweepPass } from './sweep.js';
import type { FailureTrackers } from './trackers.js';
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
import { EngineViews, type ListSource, stripSource } from './views.js';

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
  private readonly maxTracked: number;
  /** Reasons, patterns, creators and nodes of the temporary bans, interned. */
  private readonly strings = new StringPool();
  /**
   * Escalation memory per target, shared by the jails: a target banned by one jail starts its
   * next ban in any jail one step further (a repeat offender is one whatever the service).
   */
  private readonly offences = new Offences();
  /** The `ban:` policy's jail: unclaimed patterns, manual bans without a jail. */
  private readonly defaultJail: JailState;
  /** Every jail by name, the removed ones that still hold bans included. */
  private readonly jailStates = new Map<string, JailState>();
  /** `jailStates`' values, for the loops of the hot path. */
  private states: JailState[] = [];
  private readonly router: JailRouter<JailState>;
  /** The last lines that counted per (jail, target), for the explain view. */
  private readonly recent = new RecentLines();
  /** Where the table is re-synced from (a row's key bytes are a shared buffer). */
  private readonly syncBytes = new Uint8Array(16);
  /** `setMode('shadow')`: every jail reports, none enforces. */
  private allShadow = false;
  private readonly lists = {
    blacklist: new Map<string, BanRecord & { source: ListSource }>(),
    whitelist: new Map<string, BanRecord & { source: ListSource }>(),
  };
  private readonly listeners = new Set<(e: BanEvent) => void>();
  private readonly failureListeners = new Set<FailureListener>();
  private readonly endings = new BanEndings((err) => this.log?.error({ err }, 'ended-ban listener failed'));
  private jails: readonly JailSpec[] = [];
  private readonly jailListeners: ((jails: readonly JailSpec[]) => void)[] = [];
  private readonly out = new LookupResult();
  /** The counted target (IPv4 address or masked IPv6 prefix) of the failure being recorded. */
  private readonly targetBytes = new Uint8Array(16);
  /** Start-up from the database's rows or the last stop's snapshot. */
  private readonly restorer: Restorer;
  /** Pages and the explain view for the API. */
  private readonly views: EngineViews;
  private timer: NodeJS.Timeout | null = null;
  /** The sweep pass under way: where each part of it stands. */
  private pass: SweepPass | null = null;
  private slice: NodeJS.Immediate | null = null;
  private readonly m?: {
    metrics: Metrics;
    tracked: Gauge;
    evictions: Counter;
    shadowBans: Counter<'jail'>;
  };

  constructor(opts: BanEngineOptions) {
    this.table = opts.table;
    this.policy = { ...opts.policy };
    this.ignore = opts.ignoreIps.map((c) => parseCidr(c));
    this.ipv6Prefix = opts.ipv6Prefix;
    this.maxTracked = opts.maxTracked;
    this.defaultJail = new JailState(DEFAULT_JAIL, this.strings, () => this.policy, opts.maxTracked, null);
    this.jailStates.set(DEFAULT_JAIL, this.defaultJail);
    this.states = [this.defaultJail];
    this.router = new JailRouter<JailState>(this.defaultJail);
    this.minPrefix = { 4: opts.minPrefixV4 ?? 8, 6: opts.minPrefixV6 ?? 32 };
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.restorer = new Restorer({
      table: this.table,
      offences: this.offences,
      log: opts.log,
      metrics: opts.metrics,
      now: () => this.now(),
      memoryTtl: () => this.policy.maxMemoryTtl,
      holder: (jail) => this.holder(jail),
      syncTable: (bytes, family, prefixLen, mask, unscoped) =>
        this.syncTable(bytes, family, prefixLen, mask, unscoped),
      states: () => this.states,
    });
    this.views = new EngineViews({
      table: this.table,
      offences: this.offences,
      recent: this.recent,
      lists: this.lists,
      now: () => this.now(),
      states: () => this.states,
      targetOf: (addr, family) => this.targetOf(addr, family),
    });
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        metrics: opts.metrics,
        tracked: new Gauge({
          name: 'edgeban_engine_tracked_addresses',
          help: 'Addresses (IPv6 prefixes) with failures being counted',
          registers,
          collect: () => this.m?.tracked.set(this.trackedCount),
        }),
        shadowBans: new Counter({
          name: 'edgeban_jail_shadow_bans_total',
          help: 'Bans a shadow jail would have made (reported, not enforced), per jail',
          labelNames: ['jail'],
          registers,
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

  /** Ban n (of the default jail) lasts min(initial × factor^(n−1), max). */
  durationFor(n: number): number {
    return this.defaultJail.durationFor(n);
  }

  // --- failures from log lines -----------------------------------------------------------

  recordFailure(
    addr: Uint8Array,
    family: 4 | 6,
    pattern: string,
    timeMs: number,
    line?: string,
  ): BanRecord | null {
    const route = this.router.route(pattern);
    if (route === null) return null; // a disabled jail claims the pattern
    const st = route.jail;
    if (!st.counting || this.ignored(addr, family)) return null;
    const tb = this.targetBytes;
    const len = family === 4 ? 4 : 16;
    for (let i = 0; i < len; i++) tb[i] = addr[i];
    if (family === 6) maskInPlace(tb, this.ipv6Prefix);
    if (route.success) {
      // a successful login: the address starts again in this jail
      st.trackers.remove(tb, family);
      if (this.recent.size > 0) this.recent.clear(st.name, tb, family);
      return null;
    }
    // one table lookup at the failure's own time: nothing there means no whitelist, no blacklist
    // and no active ban covers the target, so the exact checks (which need its text) are skipped
    this.table.checkBytes(tb, 0, len, Math.floor(timeMs / 1000), this.out);
    if (this.out.kind === Kind.WHITELIST) return null;
    const targetLen = family === 4 ? 32 : this.ipv6Prefix;
    // a shadow jail's would-be bans are not in the table: its own are looked up whatever it says
    if (this.out.kind !== Kind.NONE || st.shadow) {
      if (this.lists.blacklist.size > 0 && this.lists.blacklist.has(this.targetOf(tb, family).key))
        return null;
      if (this.covered(st, tb, family, targetLen, timeMs)) return null; // no extension, no escalation
    }
    if (line !== undefined) this.recent.add(st.name, tb, family, line);
    return this.count(st, tb, family, pattern, timeMs, route.weight, true);
  }

  /**
   * Whether a ban in force already covers what a ban of `st` would: its own, or another jail's
   * whose services include all of st's (an unscoped ban covers every jail).
   */
  private covered(st: JailState, tb: Uint8Array, family: 4 | 6, prefixLen: number, timeMs: number): boolean {
    const states = this.states;
    for (let i = 0; i < states.length; i++) {
      const s = states[i];
      const t = s.temp;
      if (t.size === 0) continue;
      const r = t.find(tb, family, prefixLen);
      if (r < 0 || t.expiresAt(r) <= timeMs) continue;
      if (s === st) return true;
      if (t.isShadow(r)) continue;
      const m = t.maskOf(r);
      if (m === 0 || (st.mask !== 0 && (m & st.mask) === st.mask)) return true;
    }
    return false;
  }

  /** Count `weight` failures of the target in `targetBytes` in jail `st`; ban at its threshold. */
  private count(
    st: JailState,
    tb: Uint8Array,
    family: 4 | 6,
    pattern: string,
    timeMs: number,
    weight: number,
    local: boolean,
  ): BanRecord | null {
    const p = st.policy();
    const trackers = st.trackers;
    const evicted = trackers.evictions;
    let n = 0;
    const times = Math.min(Math.max(1, weight), p.maxAttempts);
    for (let i = 0; i < times; i++) n = trackers.record(tb, family, timeMs);
    if (trackers.evictions !== evicted) this.m?.evictions.inc();
    if (local && this.failureListeners.size > 0) {
      const plen = family === 4 ? 32 : this.ipv6Prefix;
      for (const l of this.failureListeners) l(st.name, tb, family, plen, times, timeMs);
    }
    if (n < p.maxAttempts) return null;
    const count = Math.min(n, p.maxAttempts);
    trackers.remove(tb, family); // the count starts again after a ban
    const target = this.targetOf(tb, family);
    // a would-be ban leaves the escalation memory alone: arming the jail later starts afresh
    const offences = st.shadow
      ? this.peekOffence(target.cidr, timeMs)
      : this.nextOffence(target.cidr, target.key, timeMs);
    const duration = st.durationFor(offences);
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
      jail: st.name,
      services: [...st.services],
      ...(st.shadow ? { shadow: true } : {}),
    };
    this.putTemp(record, target.cidr, st, st.mask);
    this.log?.info(
      {
        ip: target.key,
        pattern,
        jail: st.name,
        ...(st.services.length > 0 ? { services: st.services } : {}),
        ...(st.shadow ? { shadow: true } : {}),
        violations: count,
        duration: duration / 1000,
        ban_count: offences,
        expires: new Date(record.expiresAt ?? 0).toISOString(),
      },
      st.shadow ? 'IP would be banned (shadow jail)' : 'IP banned',
    );
    return record;
  }

  // --- operations for the API ------------------------------------------------------------

  ban(
    target: string,
    opts: {
      durationMs?: number;
      reason?: string;
      createdBy?: string;
      permanent?: boolean;
      force?: boolean;
      jail?: string;
      services?: string[];
    },
  ): BanRecord {
    if (opts.permanent)
      return this.blacklistAdd(target, { reason: opts.reason, createdBy: opts.createdBy, force: opts.force })
        .record;
    const cidr = parseCidr(target);
    const key = canonical(cidr);
    this.checkFloor(cidr, key, opts.force);
    const st =
      opts.jail === undefined || opts.jail === '' ? this.defaultJail : this.jailStates.get(opts.jail);
    if (st === undefined || st.removed) throw new UnknownJailError(opts.jail ?? '');
    let services = st.services;
    let mask = st.mask;
    if (opts.services !== undefined) {
      services = [];
      for (const raw of opts.services) {
        const n = normalizeService(raw);
        if (n === null) throw new InvalidServiceError(raw);
        if (!services.includes(n)) services.push(n);
      }
      try {
        mask = maskOf(this.table, services);
      } catch (err) {
        throw new InvalidServiceError(services.join(','), (err as Error).message);
      }
    }
    const now = this.now();
    const offences = st.shadow ? this.peekOffence(cidr, now) : this.nextOffence(cidr, key, now);
    const duration = opts.durationMs && opts.durationMs > 0 ? opts.durationMs : st.durationFor(offences);
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
      jail: st.name,
      services: [...services],
      ...(st.shadow ? { shadow: true } : {}),
    };
    this.putTemp(record, cidr, st, mask);
    this.log?.info(
      {
        ip: key,
        duration: duration / 1000,
        by: record.createdBy,
        reason: record.reason,
        jail: st.name,
        ...(services.length > 0 ? { services } : {}),
      },
      'Manual ban applied',
    );
    return record;
  }

  unban(
    target: string,
    opts: { by?: string; reason?: string; jail?: string },
  ): { temp: boolean; blacklist: boolean } {
    const cidr = parseCidr(target);
    const key = canonical(cidr);
    const by = opts.by ?? 'api';
    const why = opts.reason ?? 'Manual unban via API';
    let temp = false;
    let blacklist = false;
    if (opts.jail !== undefined) {
      const st = this.jailStates.get(opts.jail);
      if (st === undefined) throw new UnknownJailError(opts.jail);
      temp = this.dropTemp(st, key, by, why);
      this.forgetTracker(cidr, st);
    } else {
      for (const st of [...this.states]) if (this.dropTemp(st, key, by, why)) temp = true;
      blacklist = this.blacklistRemove(key, opts);
      this.forgetTracker(cidr);
    }
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
    return this.views.list(kind, query);
  }

  status(ip: string): AddressStatus {
    return this.views.status(ip);
  }

  purgeTempBans(by: string): number {
    const now = this.now();
    let active = 0;
    for (const st of this.states) {
      const t = st.temp;
      for (let r = 0; r < t.end; r++) {
        if (!t.isLive(r)) continue;
        if (t.expiresAt(r) > now && !t.isShadow(r)) active++;
        this.endTemp(t, r, 'purge', by, now);
        this.dropRow(st, r, by, 'purge');
      }
      t.maybeCompact();
    }
    this.log?.info({ purged: active, by }, 'Purged all temporary bans');
    return active;
  }

  setPolicy(policy: BanPolicy): void {
    const intervalChanged = policy.cleanupInterval !== this.policy.cleanupInterval;
    this.policy = { ...policy };
    this.defaultJail.trackers.setPolicy(policy.maxAttempts, policy.timeWindow);
    if (intervalChanged && this.timer) {
      this.stop();
      this.start();
    }
  }

  setJails(jails: readonly JailSpec[]): void {
    const specs = jails.filter((j) => j.name !== DEFAULT_JAIL);
    const defSpec = jails.find((j) => j.name === DEFAULT_JAIL) ?? null;
    // every service name first: a jail set the table cannot scope is refused whole
    for (const j of jails) maskOf(this.table, j.services);
    const counting = 1 + specs.filter((j) => j.enabled && j.source !== 'bans').length;
    const cap = trackedPerJail(this.maxTracked, counting);
    // the default jail keeps the `ban:` policy; a `default` entry gives it services and a mode
    this.defaultJail.configure(defSpec, this.table, this.maxTracked === cap ? this.maxTracked : cap);
    this.defaultJail.counting = true;
    const wanted = new Set(specs.map((j) => j.name));
    for (const j of specs) {
      let st = this.jailStates.get(j.name);
      if (st === undefined) {
        st = new JailState(j.name, this.strings, () => this.policy, cap, j);
        this.jailStates.set(j.name, st);
      }
      st.configure(j, this.table, cap);
    }
    for (const [name, st] of [...this.jailStates]) {
      if (name === DEFAULT_JAIL || wanted.has(name)) continue;
      // gone from the config: its counts go, its bans run out as they were
      st.removed = true;
      st.counting = false;
      st.trackers.clear();
      if (st.temp.size === 0) this.jailStates.delete(name);
    }
    this.states = [...this.jailStates.values()];
    if (this.allShadow) for (const st of this.states) st.shadow = true;
    this.router.setJails(
      specs.map((spec) => ({ spec, jail: this.jailStates.get(spec.name) as JailState })),
      this.defaultJail,
    );
    this.jails = jails;
    for (const f of this.jailListeners) f(jails);
  }

  /** Called with the jails in force each time they are set (the file sources follow their logpath). */
  onJailsChanged(fn: (jails: readonly JailSpec[]) => void): void {
    this.jailListeners.push(fn);
  }

  /**
   * The whole process in shadow mode (a top-level `mode: shadow`): every jail, the default one
   * included, reports the bans it would make and enforces none. `enforce` gives each jail its own mode.
   */
  setMode(mode: 'enforce' | 'shadow'): void {
    this.allShadow = mode === 'shadow';
    for (const st of this.states) st.shadow = this.allShadow || st.spec?.mode === 'shadow';
  }

  /** Pattern names with their severity and `success` flag (weights, forgiveness); on every reload. */
  setPatterns(patterns: readonly PatternInfo[]): void {
    this.router.setPatterns(patterns);
  }

  /** The failure counts of each jail that counts (kept across a restart by counts-file.ts). */
  countingJails(): { name: string; trackers: FailureTrackers }[] {
    return this.states
      .filter((st) => st.counting && !st.removed)
      .map((st) => ({ name: st.name, trackers: st.trackers }));
  }

  /** The jails last set (config and database). */
  getJails(): readonly JailSpec[] {
    return this.jails;
  }

  /** The jail a pattern's matches count in; null when a disabled jail claims it. */
  jailOfPattern(pattern: string): string | null {
    return this.router.route(pattern)?.jail.name ?? null;
  }

  /** Rows of one jail's temporary bans (shadow ones included), as `activeTempBans` counts. */
  tempBansOf(jail: string): number {
    return this.jailStates.get(jail)?.temp.size ?? 0;
  }

  onFailure(listener: FailureListener): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  recordRemoteFailures(jail: string, target: string, weight: number, timeMs: number): BanRecord | null {
    const st = this.jailStates.get(jail);
    if (st === undefined || !st.counting) return null;
    const t = parseTargetInto(target, this.targetBytes);
    if (t === null || t.prefixLen !== (t.family === 4 ? 32 : this.ipv6Prefix)) return null;
    const tb = this.targetBytes;
    if (this.ignored(tb, t.family)) return null;
    this.table.checkBytes(tb, 0, t.family === 4 ? 4 : 16, Math.floor(timeMs / 1000), this.out);
    if (this.out.kind === Kind.WHITELIST) return null;
    if (this.out.kind !== Kind.NONE || st.shadow) {
      if (this.lists.blacklist.has(target)) return null;
      if (this.covered(st, tb, t.family, t.prefixLen, timeMs)) return null;
    }
    return this.count(st, tb, t.family, 'fleet', timeMs, weight, false);
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
        if ((r.expiresAt ?? 0) <= now || r.shadow === true) return false;
        // this node's ban.ignore_ips are never banned here, whoever asks
        if (this.ignored(cidr.bytes, cidr.family)) return false;
        const st = this.holder(r.jail ?? DEFAULT_JAIL);
        const known = st.temp.find(cidr.bytes, cidr.family, cidr.prefixLen);
        if (known >= 0 && st.temp.expiresAt(known) >= (r.expiresAt ?? 0)) return false;
        let mask = 0;
        try {
          mask = maskOf(this.table, r.services ?? []);
        } catch (err) {
          this.log?.warn(
            { err: err as Error, ip: key, services: r.services },
            'remote ban with unusable services skipped',
          );
          return false;
        }
        record.jail = st.name;
        record.services = mask === 0 ? [] : [...(r.services ?? [])];
        this.putTemp(record, cidr, st, mask, false);
        // escalation is fleet-wide: the next offence here continues from the other node's count
        const o = this.offences.find(cidr.bytes, cidr.family, cidr.prefixLen);
        if (o < 0 || this.offences.banCount(o) < r.offences)
          this.offences.put(cidr.bytes, cidr.family, cidr.prefixLen, r.offences, r.createdAt);
        this.forgetTracker(cidr, st);
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
      let dropped = false;
      for (const st of [...this.states])
        if ((e.jail === undefined || st.name === e.jail) && this.dropTemp(st, key, e.by, e.reason, false))
          dropped = true;
      if (!dropped) return false;
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
    for (const st of this.states) {
      const t = st.temp;
      for (let r = 0; r < t.end; r++)
        if (t.isLive(r) && t.createdAt(r) < before && t.node(r) !== this.nodeId) out.push(t.scopedRecord(r));
    }
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
   * (changed since, by a newer source) are left alone (restore.ts).
   */
  restoreRows(
    bans: BanRows,
    offences: OffenceRows,
    from = 0,
    to = Number.POSITIVE_INFINITY,
    skip?: ReadonlySet<string>,
  ): void {
    this.restorer.rows(bans, offences, from, to, skip);
  }

  reserveRestore(bans: number, offences: number, jail: string): void {
    this.offences.reserve(Math.max(0, offences));
    this.holder(jail).temp.reserve(Math.max(0, bans));
    // IPv4 for all: IPv6 rows, if any, grow their half of the table as they come
    this.table.reserve(Math.max(0, bans), 0);
  }

  /** The temporary bans (shadow ones aside) and offence memory as a snapshot file (snapshot.ts). */
  snapshotState(database: string, digest: string | null = null): Buffer {
    return encodeSnapshot(
      { database, node: this.nodeId, writtenAt: this.now(), digest },
      this.states.map((st) => ({ name: st.name, temp: st.temp })),
      this.offences,
    );
  }

  /** A snapshot's bans and offences, in force now, unconfirmed until the database shows them. */
  loadSnapshot(s: EngineSnapshot): { bans: number; offences: number } {
    return this.restorer.snapshot(s);
  }

  /** After a whole restore from the database: the snapshot's rows it did not show go. */
  dropUnconfirmed(): { bans: number; offences: number } {
    return this.restorer.dropUnconfirmed();
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
    let n = 0;
    for (const st of this.states) n += st.trackers.evictions;
    return n;
  }

  /** Addresses being counted (for stats), over every jail. */
  get trackedCount(): number {
    let n = 0;
    for (const st of this.states) n += st.trackers.size;
    return n;
  }

  /** Temporary bans held (shadow jails' would-be bans included), over every jail. */
  get activeTempBans(): number {
    let n = 0;
    for (const st of this.states) n += st.temp.size;
    return n;
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

  /** The escalation level the next ban of this target would have, the memory left as it is. */
  private peekOffence(cidr: ParsedCidr, now: number): number {
    const o = this.offences;
    const prev = o.find(cidr.bytes, cidr.family, cidr.prefixLen);
    return prev >= 0 && now - o.lastOffence(prev) < this.policy.maxMemoryTtl ? o.banCount(prev) + 1 : 1;
  }

  /** The jail of this name; a holder for its bans (no counting) when it is not configured here. */
  private holder(name: string): JailState {
    const known = this.jailStates.get(name);
    if (known !== undefined) return known;
    const st = new JailState(name, this.strings, () => this.policy, 1, null);
    st.removed = true;
    st.counting = false;
    this.jailStates.set(name, st);
    this.states = [...this.jailStates.values()];
    return st;
  }

  private syncTable(
    bytes: Uint8Array,
    family: 4 | 6,
    prefixLen: number,
    mask: number,
    unscoped: boolean,
  ): void {
    syncScopes(this.table, this.states, this.syncBytes, bytes, family, prefixLen, mask, unscoped);
  }

  private putTemp(record: BanRecord, cidr: ParsedCidr, st: JailState, mask: number, emit = true): void {
    const t = st.temp;
    const shadow = record.shadow === true;
    const prev = t.find(cidr.bytes, cidr.family, cidr.prefixLen);
    let prevMask = 0;
    let prevInTable = false;
    if (prev >= 0) {
      prevMask = t.maskOf(prev);
      prevInTable = !t.isShadow(prev);
      if (prevInTable) this.m?.metrics.currentBans.dec({ pattern: t.pattern(prev) ?? 'manual' });
      if (emit) this.endTemp(t, prev, 'replaced', record.createdBy, this.now());
    }
    t.put(cidr.bytes, cidr.family, cidr.prefixLen, {
      reason: record.reason,
      pattern: record.pattern,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt ?? 0,
      createdBy: record.createdBy,
      offences: record.offences,
      node: record.node,
      services: record.services,
      mask,
      shadow,
    });
    if (!shadow || prevInTable)
      this.syncTable(
        cidr.bytes,
        cidr.family,
        cidr.prefixLen,
        (shadow ? 0 : mask) | (prevInTable ? prevMask : 0),
        (!shadow && mask === 0) || (prevInTable && prevMask === 0),
      );
    const pattern = record.pattern ?? 'manual';
    if (!shadow) this.m?.metrics.currentBans.inc({ pattern });
    if (!emit) return;
    if (shadow) this.m?.shadowBans.inc({ jail: st.name });
    else {
      this.m?.metrics.bans.inc({ pattern });
      this.m?.metrics.jailBans.inc({ jail: record.jail ?? DEFAULT_JAIL });
      this.m?.metrics.banDuration.observe({ pattern }, ((record.expiresAt ?? 0) - record.createdAt) / 1000);
    }
    this.emit({ type: 'ban', record: { ...record, services: [...(record.services ?? [])] } });
  }

  private dropTemp(st: JailState, key: string, by: string, reason: string, emit = true): boolean {
    const row = st.temp.findText(key);
    if (row < 0) return false;
    // a change another node made is that node's history
    if (emit) this.endTemp(st.temp, row, 'unban', by, this.now());
    this.dropRow(st, row, by, reason, emit);
    return true;
  }

  private dropRow(st: JailState, row: number, by: string, reason: string, emit = true): void {
    const t = st.temp;
    const key = emit ? t.targetText(row) : '';
    const shadow = t.isShadow(row);
    const mask = t.maskOf(row);
    const family = t.familyOf(row);
    const prefixLen = t.prefixOf(row);
    const b = t.keyBytes(row).slice(0, family === 4 ? 4 : 16);
    if (!shadow) this.m?.metrics.currentBans.dec({ pattern: t.pattern(row) ?? 'manual' });
    t.remove(row);
    if (!shadow) this.syncTable(b, family, prefixLen, mask, mask === 0);
    if (emit)
      this.emit({
        type: 'unban',
        target: key,
        kind: 'temp',
        by,
        reason,
        at: this.now(),
        jail: st.name,
        ...(shadow ? { shadow: true } : {}),
      });
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
      temps: this.states.map((st) => st.temp),
      offences: this.offences,
      trackers: this.states.map((st) => st.trackers),
      table: this.table,
      maxMemoryTtl: () => this.policy.maxMemoryTtl,
      expired: (pattern, _jail, shadow) => {
        if (!shadow) this.m?.metrics.currentBans.dec({ pattern: pattern ?? 'manual' });
      },
      ending: this.endings.active ? (t, row, now) => this.expiring(t, row, now) : null,
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

  /**
   * Drops the failure count of a target (in one jail, or in all) when it is one the engine counts
   * (address, IPv6 prefix).
   */
  private forgetTracker(cidr: ParsedCidr, only?: JailState): void {
    const counted = cidr.family === 4 ? cidr.prefixLen === 32 : cidr.prefixLen === this.ipv6Prefix;
    if (!counted) return;
    if (only !== undefined) only.trackers.remove(cidr.bytes, cidr.family);
    else for (const st of this.states) st.trackers.remove(cidr.bytes, cidr.family);
  }

  /**
   * The sweep drops an expired ban: history for the node that made it (each node of a fleet
   * expires its copy), unless a whitelist entry hid it already (that was its end).
   */
  private expiring(t: TempBans, row: number, now: number): void {
    if (t.node(row) !== this.nodeId) return;
    this.endTemp(t, row, 'expired', 'engine', now);
  }

  /** A temporary ban ends here: its history row, unless a whitelist entry had hidden it (its end then). */
  private endTemp(t: TempBans, row: number, reason: BanEndReason, by: string, now: number): void {
    // a shadow jail's would-be ban never was one
    if (!this.endings.active || t.isShadow(row) || this.views.hidden(t, row)) return;
    this.endings.tempRow(t, row, reason, by, now);
  }

  /** A new whitelist entry hides the temporary bans it covers: each ends there. */
  private hiddenBy(wl: ParsedCidr, by: string): void {
    if (!this.endings.active) return;
    const now = this.now();
    for (const st of this.states) {
      const t = st.temp;
      if (wl.prefixLen === (wl.family === 4 ? 32 : 128)) {
        const row = t.find(wl.bytes, wl.family, wl.prefixLen);
        if (row >= 0 && t.expiresAt(row) > now && !t.isShadow(row))
          this.endings.tempRow(t, row, 'whitelist', by, now);
        continue;
      }
      for (let r = 0; r < t.end; r++) {
        if (!t.isLive(r) || t.expiresAt(r) <= now || t.familyOf(r) !== wl.family || t.isShadow(r)) continue;
        const c: ParsedCidr = { family: wl.family, bytes: t.keyBytes(r), prefixLen: t.prefixOf(r), text: '' };
        if (covers(wl, c)) this.endings.tempRow(t, r, 'whitelist', by, now);
      }
    }
  }
}
