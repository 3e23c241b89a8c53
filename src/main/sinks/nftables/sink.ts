import type { BanEngine } from '../../engine/engine.js';
import type { BanEvent } from '../../engine/types.js';
import type { Logger } from '../../log/logger.js';
import { LogThrottle } from '../../log/throttle.js';
import { ElementSet } from './elements.js';
import { NftablesUnavailableError } from './errors.js';
import { familyOf, kernelElement, unavailableError } from './kernel.js';
import type { NftablesMetrics } from './metrics.js';
import { applyScript, runNft } from './runner.js';
import {
  addLines,
  elementKey,
  flushLine,
  removeLines,
  type SetDef,
  setDefs,
  setNameFor,
  setupScript,
  TABLE_COMMENT,
  type TableSpec,
} from './script.js';

export interface NftablesSinkOptions {
  spec: TableSpec;
  nft: string;
  engine: BanEngine;
  log: Logger;
  metrics?: NftablesMetrics;
  flushIntervalMs: number;
  maxPending: number;
  resyncIntervalMs: number;
  /** True once the store has put the persisted bans back (they come without events). */
  restored?: () => boolean;
  now?: () => number;
}

const ALL = Number.MAX_SAFE_INTEGER;

/**
 * Keeps the nftables sets of edgeban's table equal to the ban table. Ban events are applied
 * incrementally (one `nft -f -` per batch, each a single transaction); a periodic comparison with
 * the engine catches what changes without an event (restored bans, lists from the database,
 * expiry). A batch nft refuses makes the next one a resync: flush each set and add every element,
 * in one transaction.
 */
export class NftablesSink {
  private readonly sets = new Map<string, { set: ElementSet; def: SetDef }>();
  private readonly at: string;
  private readonly now: () => number;
  private readonly throttle: LogThrottle;
  private unsubscribe: (() => void) | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private restoreTimer: NodeJS.Timeout | null = null;
  /** The next batch replaces the sets (start, a failed batch, too many pending). */
  private needFull = true;
  /** A comparison with the engine is due before the next batch. */
  private needDiff = false;
  private running: Promise<void> | null = null;
  /** Oldest change not yet applied (ms), for the sync lag. */
  private oldestPending: number | null = null;
  private stopped = false;
  /** Batches applied and refused, for tests and the bench. */
  batches = 0;
  failures = 0;

  constructor(private readonly o: NftablesSinkOptions) {
    this.at = `${o.spec.family} ${o.spec.table}`;
    this.now = o.now ?? Date.now;
    this.throttle = new LogThrottle(o.log);
    for (const def of setDefs(o.spec.families))
      this.sets.set(def.name, { set: new ElementSet(def.family), def });
  }

  /**
   * Checks nft and the table, creates what is missing and resyncs the sets from the engine, all
   * before resolving; throws NftablesUnavailableError naming the key to look at. While the store
   * has not restored the persisted bans yet, the sets are left as the kernel has them (their
   * elements still hold, by their timeouts) and only changed by new events; the resync (flush
   * and add all, one transaction) follows the restore.
   */
  async start(): Promise<void> {
    const existing = await this.checkTable();
    // subscribed first: a ban made while the setup runs is pending for the first batch
    this.unsubscribe = this.o.engine.onEvent((e) => this.onEvent(e));
    const restored = this.o.restored;
    const waiting = restored !== undefined && !restored();
    if (existing !== null && waiting) this.seed(existing);
    this.loadFromEngine();
    const now = this.now();
    const batch = waiting ? this.changeBatch(now) : this.fullBatch();
    try {
      await applyScript(this.o.nft, setupScript(this.o.spec) + batch.script);
    } catch (err) {
      this.unsubscribe?.();
      this.unsubscribe = null;
      throw unavailableError(err, this.o.nft);
    }
    for (const c of batch.commits) c();
    this.needFull = false;
    this.applied(now);
    if (this.pendingCount() > 0) this.schedule();
    this.resyncTimer = setInterval(() => this.requestDiff(), this.o.resyncIntervalMs);
    this.resyncTimer.unref();
    if (restored && waiting) {
      const since = this.now();
      this.restoreTimer = setInterval(() => {
        // a store that never restores (database down for good): resync from what the engine has
        if (!restored() && this.now() - since < RESTORE_WAIT_MS) return;
        if (this.restoreTimer) clearInterval(this.restoreTimer);
        this.restoreTimer = null;
        this.needFull = true;
        this.requestDiff();
      }, 100);
      this.restoreTimer.unref();
    }
  }

  /** What the kernel holds already (a restart): the applied state, so removals reach it. */
  private seed(table: string): void {
    let j: { nftables?: { set?: { name?: string; elem?: unknown[] } }[] };
    try {
      j = JSON.parse(table) as typeof j;
    } catch {
      this.needFull = true;
      return;
    }
    const now = this.now();
    for (const item of j.nftables ?? []) {
      const s = item.set;
      const known = s?.name ? this.sets.get(s.name) : undefined;
      if (!known) continue;
      const target = known.set;
      for (const e of s?.elem ?? []) {
        const parsed = kernelElement(e, known.def.len === 64 ? 64 : null);
        if (parsed) target.seedApplied(parsed.key, parsed.expiresIn === null ? null : now + parsed.expiresIn);
      }
    }
  }

  /** Applies what is pending and stops; the sets stay in the kernel (that is the point). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const t of [this.flushTimer, this.resyncTimer, this.restoreTimer]) if (t) clearTimeout(t);
    this.flushTimer = this.resyncTimer = this.restoreTimer = null;
    await this.running;
    this.stopped = true;
    if (this.pendingCount() > 0 || this.needDiff) await this.flush();
  }

  /** Changes not yet applied (tests, the bench). */
  get pending(): number {
    return this.pendingCount() + (this.needFull ? 1 : 0);
  }

  /** Elements per set that edgeban wants (for metrics and tests). */
  elementCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, { set }] of this.sets) out[name] = set.size;
    return out;
  }

  /** Applies everything pending now (tests, stop). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.runBatch().finally(() => {
      this.running = null;
    });
    await this.running;
  }

  /** Compare with the engine on the next batch (config reload, restore). */
  requestDiff(): void {
    this.needDiff = true;
    this.schedule();
  }

  private onEvent(e: BanEvent): void {
    if (e.type === 'ban') {
      const r = e.record;
      // a firewall set has no notion of service: only bans of every service go in; would-be bans never
      if (r.kind === 'temp' && (r.shadow === true || (r.services?.length ?? 0) > 0)) return;
      if (r.kind === 'whitelist') this.want(false, r.target, null);
      else if (r.kind === 'blacklist') this.want(true, r.target, null);
      else {
        // a temporary ban over a blacklisted target changes nothing: the entry stays permanent
        const s = this.setOf(true, r.target);
        if (s && s.expiryOf(r.target) !== null) this.want(true, r.target, r.expiresAt);
      }
      // bans under a whitelist entry are not in force: the engine decides what is listed
      if (r.kind === 'whitelist') this.needDiff = true;
    } else if (e.type === 'unban') {
      // what remains (a blacklist entry under a lifted ban, bans uncovered by a whitelist
      // removal) is the engine's to say
      this.needDiff = true;
      this.drop(e.kind !== 'whitelist', e.target);
    } else return;
    this.schedule();
  }

  /** The set a target goes in; undefined for a family this table does not keep. */
  private setOf(ban: boolean, target: string): ElementSet | undefined {
    const slash = target.indexOf('/');
    const family = familyOf(target);
    const len = slash < 0 ? (family === 4 ? 32 : 128) : Number(target.slice(slash + 1));
    return this.sets.get(setNameFor(ban, family, len))?.set;
  }

  private want(ban: boolean, target: string, expiresAt: number | null): void {
    const s = this.setOf(ban, target);
    if (!s) return; // a family this table does not keep
    s.put(target, expiresAt);
    this.oldestPending ??= this.now();
    if (this.pendingCount() > this.o.maxPending) this.needFull = true;
  }

  private drop(ban: boolean, target: string): void {
    const s = this.setOf(ban, target);
    if (!s?.has(target)) return;
    s.remove(target);
    this.oldestPending ??= this.now();
  }

  private pendingCount(): number {
    let n = 0;
    for (const { set } of this.sets.values()) n += set.pending;
    return n;
  }

  private schedule(): void {
    if (this.flushTimer || this.stopped || !this.unsubscribe) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      if (this.running) {
        this.schedule();
        return;
      }
      this.flush().catch(() => {});
    }, this.o.flushIntervalMs);
  }

  private async runBatch(): Promise<void> {
    const now = this.now();
    if (this.needDiff) {
      this.needDiff = false;
      this.loadFromEngine();
      for (const { set } of this.sets.values()) set.markRenewals(now);
    }
    if (this.needFull || this.pendingCount() > this.o.maxPending) {
      const full = this.fullBatch();
      await this.tryApply(full.script, now, [
        ...full.commits,
        () => {
          this.needFull = false;
        },
      ]);
      return;
    }
    const batch = this.changeBatch(now);
    if (batch.script === '') {
      for (const c of batch.commits) c();
      this.applied(now);
      return;
    }
    await this.tryApply(batch.script, now, batch.commits);
  }

  /** The pending changes of every set, removals first; '' when there is nothing to send. */
  private changeBatch(now: number): { script: string; commits: (() => void)[] } {
    const out: string[] = [];
    const commits: (() => void)[] = [];
    const adds: [SetDef, ReturnType<ElementSet['changes']>['add']][] = [];
    for (const { set, def } of this.sets.values()) {
      if (set.pending === 0) continue;
      const c = set.changes(now);
      removeLines(
        this.at,
        def.name,
        c.remove.map((k) => elementKey(def, k)),
        out,
      );
      adds.push([def, c.add]);
      commits.push(c.commit);
    }
    // every removal before any addition: the kernel refuses an interval overlapping another
    for (const [def, add] of adds)
      addLines(
        this.at,
        def.name,
        add.map((e) => ({ ...e, key: elementKey(def, e.key) })),
        out,
      );
    return { script: out.length === 0 ? '' : `${out.join('\n')}\n`, commits };
  }

  private async tryApply(script: string, now: number, commits: (() => void)[]): Promise<void> {
    try {
      await applyScript(this.o.nft, script);
      for (const c of commits) c();
      this.applied(now);
      if (this.pendingCount() > 0 || this.needDiff) this.schedule();
    } catch (err) {
      this.failures++;
      this.o.metrics?.batchErrors.inc();
      // the kernel's state is unknown now: the next batch replaces the sets
      this.needFull = true;
      for (const { set } of this.sets.values()) set.forgetApplied();
      this.throttle.error(
        'batch',
        'nft',
        { err: err instanceof Error ? err : new Error(String(err)) },
        'nftables batch refused; the sets are resynced on the next batch',
      );
      if (!this.stopped) setTimeout(() => this.schedule(), 1000).unref();
    }
  }

  private applied(startedAt: number): void {
    this.batches++;
    if (this.oldestPending !== null) {
      this.o.metrics?.syncLag.set(Math.max(0, this.now() - this.oldestPending) / 1000);
      this.oldestPending = null;
    } else this.o.metrics?.syncLag.set(Math.max(0, this.now() - startedAt) / 1000);
    for (const [name, { set }] of this.sets) this.o.metrics?.elements.set({ set: name }, set.appliedSize);
  }

  /** Flush each set and add every element, as one transaction; `commits` once nft took it. */
  private fullBatch(): { script: string; commits: (() => void)[] } {
    const now = this.now();
    const out: string[] = [];
    const commits: (() => void)[] = [];
    for (const [name, { set, def }] of this.sets) {
      flushLine(this.at, name, out);
      const f = set.full(now);
      addLines(
        this.at,
        name,
        f.add.map((e) => ({ ...e, key: elementKey(def, e.key) })),
        out,
      );
      commits.push(f.commit);
    }
    return { script: `${out.join('\n')}\n`, commits };
  }

  /** The engine's bans and lists become the wanted state (entries it no longer has leave). */
  private loadFromEngine(): void {
    const want = new Map<string, Map<string, number | null>>();
    for (const name of this.sets.keys()) want.set(name, new Map());
    const put = (name: string, target: string, exp: number | null) => {
      const m = want.get(name);
      if (!m) return;
      const prev = m.get(target);
      // a blacklist entry (permanent) wins over a temporary ban of the same target
      if (prev === null) return;
      m.set(target, exp === null ? null : Math.max(prev ?? 0, exp));
    };
    const e = this.o.engine;
    const nameOf = (ban: boolean, target: string) => {
      const slash = target.indexOf('/');
      const f = familyOf(target);
      return setNameFor(ban, f, slash < 0 ? (f === 4 ? 32 : 128) : Number(target.slice(slash + 1)));
    };
    for (const r of e.list('blacklist', { limit: ALL }).items) put(nameOf(true, r.target), r.target, null);
    for (const r of e.list('temp', { limit: ALL }).items)
      if ((r.services?.length ?? 0) === 0) put(nameOf(true, r.target), r.target, r.expiresAt);
    for (const r of e.list('whitelist', { limit: ALL }).items) put(nameOf(false, r.target), r.target, null);
    for (const [name, { set }] of this.sets) {
      const m = want.get(name) ?? new Map<string, number | null>();
      const gone: string[] = [];
      for (const k of set.keys()) if (!m.has(k)) gone.push(k);
      for (const k of gone) set.remove(k);
      for (const [k, exp] of m) set.put(k, exp);
    }
    if (this.pendingCount() > 0) this.oldestPending ??= this.now();
  }

  /**
   * Refuses a table of that name that edgeban did not make; a missing nft or CAP_NET_ADMIN too.
   * Returns the table as JSON when it exists, null when it is made now.
   */
  private async checkTable(): Promise<string | null> {
    let r: Awaited<ReturnType<typeof runNft>>;
    try {
      r = await runNft(this.o.nft, ['list', 'table', this.o.spec.family, this.o.spec.table], '');
    } catch (err) {
      throw unavailableError(err, this.o.nft);
    }
    if (r.code === 0) {
      // nft's JSON leaves table comments out: the text has it
      if (!r.stdout.includes(`comment "${TABLE_COMMENT}"`))
        throw new NftablesUnavailableError(
          'nftables.table',
          `table ${this.at} exists and was not made by edgeban (no comment "${TABLE_COMMENT}"); ` +
            'edgeban only touches a table of its own: choose another nftables.table',
        );
      const j = await runNft(this.o.nft, ['-j', 'list', 'table', this.o.spec.family, this.o.spec.table], '');
      return j.code === 0 ? j.stdout : '';
    }
    if (/No such file or directory|does not exist/i.test(r.stderr)) return null; // made on first start
    throw unavailableError(new Error(r.stderr.trim() || `nft exited with ${r.code}`), this.o.nft);
  }
}

/** Longest the first resync waits for the store's restore. */
const RESTORE_WAIT_MS = 5 * 60_000;
