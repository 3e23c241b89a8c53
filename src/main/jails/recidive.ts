/**
 * Recidive (fail2ban's jail of that name): a jail whose source is the bans of other jails.
 * A target banned `maxAttempts` times within its `timeWindow` by its source jails (every jail
 * that counts log lines when `sourceJails` is empty) is banned by the recidive jail, for that
 * jail's time, escalating, within its services (none: everywhere).
 *
 * What counts: temporary bans, shadow ones excepted, never the recidive jail's own. Bans that
 * came from the fleet count as well as this node's: every node then sees the same bans and
 * reaches the threshold at the same ban; a ban two nodes both made of one target in one jail
 * (fleet-wide counting makes them at about the same time) counts once, since a second ban of
 * the same jail while the first still holds is not a new offence. So a fleet neither multiplies
 * an attacker's allowance nor its count.
 */
import { Counter, Gauge } from 'prom-client';
import { formatDuration } from '../config/duration.js';
import type { BanEngineApi, BanEvent, BanRecord } from '../engine/types.js';
import { asError, type Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import type { Metrics } from '../metrics/registry.js';
import { BanCounter, jailBanDuration } from './ban-counter.js';
import { DEFAULT_JAIL, type JailSpec } from './types.js';

/** Targets one recidive jail follows by default (some 160 bytes each with a ring of 3). */
export const RECIDIVE_MAX_TARGETS = 65_536;
/** Jail ids kept for the rings; names past it share the last id (they still count). */
const MAX_JAIL_IDS = 65_535;

export type BanMaker = Pick<BanEngineApi, 'ban' | 'onEvent'>;

export interface JailBanOptions {
  engine: BanMaker;
  /** Targets followed per jail. */
  maxTargets?: number;
  /**
   * The engine's jails (engine.getJails): checked at each ban event, a new list is taken up as
   * `update` would. Without it, only `update` changes the jails.
   */
  jails?: () => readonly JailSpec[];
  log?: Logger;
  metrics?: Metrics;
}

interface Follower {
  spec: JailSpec;
  counter: BanCounter;
  /** Source jails by name; null = every jail that is not a recidive one. */
  sources: ReadonlySet<string> | null;
}

/** Jail names as small ids for typed arrays. */
export class JailIds {
  private readonly ids = new Map<string, number>();
  of(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = Math.min(this.ids.size, MAX_JAIL_IDS);
      if (this.ids.size < MAX_JAIL_IDS) this.ids.set(name, id);
    }
    return id;
  }
}

export class Recidive {
  private followers: Follower[] = [];
  private specs: readonly JailSpec[] | null = null;
  /** Every recidive jail's name: none of them is another's source by default. */
  private recidiveNames = new Set<string>();
  private readonly ids = new JailIds();
  private readonly maxTargets: number;
  private readonly unsubscribe: () => void;
  /** True while this class bans: its own events are not ban events of a source jail. */
  private banning = false;
  private readonly throttle?: LogThrottle;
  private readonly m?: { bans: Counter<'jail' | 'shadow'>; tracked: Gauge<'jail'> };

  constructor(private readonly opts: JailBanOptions) {
    this.maxTargets = opts.maxTargets ?? RECIDIVE_MAX_TARGETS;
    this.unsubscribe = opts.engine.onEvent((e) => this.onEvent(e));
    if (opts.log) this.throttle = new LogThrottle(opts.log);
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        bans: new Counter({
          name: 'edgeban_recidive_bans_total',
          help: 'Bans made by recidive jails (shadow="true": would-be bans of shadow jails)',
          labelNames: ['jail', 'shadow'],
          registers,
        }),
        tracked: new Gauge({
          name: 'edgeban_recidive_tracked_targets',
          help: 'Targets whose bans a recidive jail is counting',
          labelNames: ['jail'],
          registers,
          collect: () => {
            this.m?.tracked.reset();
            for (const f of this.followers) this.m?.tracked.set({ jail: f.spec.name }, f.counter.size);
          },
        }),
      };
    }
  }

  /**
   * The jails now configured: every enabled one with `source: bans` is followed. A jail that
   * keeps its name, threshold and window keeps its counts.
   */
  update(specs: readonly JailSpec[]): void {
    this.specs = specs;
    const old = new Map(this.followers.map((f) => [f.spec.name, f]));
    const next: Follower[] = [];
    for (const spec of specs) {
      if (!spec.enabled || spec.source !== 'bans') continue;
      const prev = old.get(spec.name);
      const keep =
        prev && prev.spec.maxAttempts === spec.maxAttempts && prev.spec.timeWindow === spec.timeWindow;
      next.push({
        spec,
        counter: keep ? prev.counter : new BanCounter(spec.maxAttempts, spec.timeWindow, this.maxTargets),
        sources: spec.sourceJails.length > 0 ? new Set(spec.sourceJails) : null,
      });
    }
    this.followers = next;
    this.recidiveNames = new Set(specs.filter((s) => s.source === 'bans').map((s) => s.name));
  }

  /** Targets followed by `jail` (every recidive jail when absent). */
  size(jail?: string): number {
    let n = 0;
    for (const f of this.followers) if (jail === undefined || f.spec.name === jail) n += f.counter.size;
    return n;
  }

  /** Bans of `target` that `jail` counted in its window. */
  count(jail: string, target: string, now = Date.now()): number {
    return this.followers.find((f) => f.spec.name === jail)?.counter.count(target, now) ?? 0;
  }

  stop(): void {
    this.unsubscribe();
    this.throttle?.close();
  }

  /**
   * One ban event of the engine (local or from the fleet). Public for the benchmarks and tests.
   * `quiet`: counted, never banned (the counts rebuilt at start from bans already made).
   */
  observe(record: BanRecord, quiet = false): void {
    if (record.kind !== 'temp' || record.shadow) return;
    const jail = record.jail ?? DEFAULT_JAIL;
    for (const f of this.followers) {
      if (jail === f.spec.name) continue;
      if (f.sources ? !f.sources.has(jail) : this.recidiveNames.has(jail)) continue;
      const level = f.counter.observe(
        record.target,
        this.ids.of(jail),
        record.createdAt,
        record.expiresAt ?? 0,
      );
      // not from inside the engine's event delivery: the listeners after this one must hear the
      // source ban before the recidive ban that follows it
      if (level > 0 && !quiet) queueMicrotask(() => this.ban(f.spec, record.target, level));
    }
  }

  private onEvent(e: BanEvent): void {
    if (e.type !== 'ban' || this.banning) return;
    const jails = this.opts.jails?.();
    if (jails !== undefined && jails !== this.specs) this.update(jails);
    if (this.followers.length === 0) return;
    this.observe(e.record);
  }

  private ban(spec: JailSpec, target: string, level: number): void {
    const durationMs = jailBanDuration(spec, level);
    const reason = `recidive: ${spec.maxAttempts} bans in ${formatDuration(spec.timeWindow)}`;
    const shadow = spec.mode === 'shadow';
    this.m?.bans.inc({ jail: spec.name, shadow: String(shadow) });
    if (shadow) {
      this.throttle?.info(
        'recidive-shadow',
        spec.name,
        { ip: target, jail: spec.name, reason },
        'would ban (shadow jail)',
      );
      return;
    }
    this.banning = true;
    try {
      this.opts.engine.ban(target, {
        jail: spec.name,
        services: spec.services,
        durationMs,
        reason,
        createdBy: 'engine',
        force: true,
      });
    } catch (err) {
      this.throttle?.warn(
        'recidive-ban',
        spec.name,
        { err: asError(err), ip: target, jail: spec.name },
        'recidive ban failed',
      );
    } finally {
      this.banning = false;
    }
  }
}
