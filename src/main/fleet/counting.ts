/**
 * Fleet-wide counting: every node's failures for a (jail, target) add up, so an attacker
 * spreading its attempts over N nodes does not get N times the allowance. Each node sums what its
 * jails count per (jail, target) over one interval and publishes the sums on the fleet's counts
 * channel; the other nodes add them to their own counts (engine.recordRemoteFailures), which ban
 * at the jail's threshold as a local failure would.
 *
 * The bus traffic is bounded whatever the log storm: at most `maxEntries` pairs per interval
 * leave a node (the first ones of the interval; new pairs past it are dropped and counted, pairs
 * already in still add up), in payloads under 8000 bytes: per node at most
 * ⌈maxEntries × 48 / 7800⌉ messages per interval (48 bytes: the longest entry, an IPv6 /64 with
 * a six-digit weight), so 13 messages and ~100 KB per 250 ms interval with the defaults:
 * 52 messages/s and ~400 KB/s. A connection that is down drops the interval's sums (counted).
 */
import { Counter } from 'prom-client';
import { cidrText } from '../../shared/ip/cidr.js';
import type { BanEngineApi } from '../engine/types.js';
import { asError, type Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import type { Metrics } from '../metrics/registry.js';
import { FailureAggregates } from './aggregates.js';
import { decodeCounts, encodeCounts } from './count-messages.js';

/** What the counting needs of the bus: one more channel on its connection. */
export interface CountsTransport {
  readonly isConnected: boolean;
  listen(channel: string, handler: (payload: string) => void): void;
  /** Sends the payloads in order; resolves how many went out (the rest are lost). */
  notify(channel: string, payloads: readonly string[]): Promise<number>;
}

export interface FleetCountingOptions {
  engine: Pick<BanEngineApi, 'onFailure' | 'recordRemoteFailures'>;
  node: string;
  bus: CountsTransport;
  channel: string;
  key: Buffer;
  /** How long failures are summed before they go out (ms). */
  intervalMs: number;
  /** Most (jail, target) pairs one interval sends. */
  maxEntries: number;
  log: Logger;
  metrics?: Metrics;
}

/** Jail names past this share the last id: their sums go out under the last name kept. */
const MAX_JAILS = 1024;

/** The counts channel beside the fleet's bans channel (PostgreSQL names: 63 bytes at most). */
export function countsChannel(channel: string): string {
  return `${channel.slice(0, 56)}_counts`;
}

export class FleetCounting {
  private readonly agg: FailureAggregates;
  private readonly jailIds = new Map<string, number>();
  private readonly jailNames: string[] = [];
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly throttle: LogThrottle;
  private readonly m?: { aggregates: Counter<'direction'>; messages: Counter<'direction'>; bytes: Counter };
  /** Plain counts for tests and benchmarks. */
  readonly stats = {
    sentEntries: 0,
    sentMessages: 0,
    sentBytes: 0,
    receivedEntries: 0,
    receivedMessages: 0,
    dropped: 0,
    rejected: 0,
  };

  constructor(private readonly opts: FleetCountingOptions) {
    this.agg = new FailureAggregates(opts.maxEntries);
    this.throttle = new LogThrottle(opts.log);
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.m = {
        aggregates: new Counter({
          name: 'edgeban_fleet_count_aggregates_total',
          help: 'Failure sums per (jail, target) sent to and received from the fleet, and dropped (interval full, or no connection)',
          labelNames: ['direction'],
          registers,
        }),
        messages: new Counter({
          name: 'edgeban_fleet_count_messages_total',
          help: 'Fleet counting notifications sent and received',
          labelNames: ['direction'],
          registers,
        }),
        bytes: new Counter({
          name: 'edgeban_fleet_count_sent_bytes_total',
          help: 'Bytes of fleet counting notifications sent',
          registers,
        }),
      };
    }
  }

  start(): void {
    if (this.unsubscribe) return;
    this.opts.bus.listen(countsChannel(this.opts.channel), (p) => this.onPayload(p));
    this.unsubscribe = this.opts.engine.onFailure((jail, target, family, prefixLen, weight, timeMs) =>
      this.onFailure(jail, target, family, prefixLen, weight, timeMs),
    );
    this.timer = setInterval(() => void this.flush(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops counting; what the current interval summed still goes out. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    this.throttle.close();
  }

  private onFailure(
    jail: string,
    target: Uint8Array,
    family: 4 | 6,
    prefixLen: number,
    weight: number,
    timeMs: number,
  ): void {
    let id = this.jailIds.get(jail);
    if (id === undefined) {
      id = Math.min(this.jailNames.length, MAX_JAILS - 1);
      if (this.jailNames.length < MAX_JAILS) {
        this.jailIds.set(jail, id);
        this.jailNames.push(jail);
      }
    }
    if (!this.agg.add(id, target, family, prefixLen, weight, timeMs)) {
      this.stats.dropped++;
      this.m?.aggregates.inc({ direction: 'dropped' });
    }
  }

  /** Sends the interval's sums and starts the next interval. */
  async flush(): Promise<void> {
    const a = this.agg;
    const n = a.size;
    if (n === 0) return;
    if (!this.opts.bus.isConnected) {
      a.clear();
      this.stats.dropped += n;
      this.m?.aggregates.inc({ direction: 'dropped' }, n);
      return;
    }
    const entries: [number, string, number, number][] = new Array(n);
    for (let e = 0; e < n; e++) {
      const off = e * 16;
      const fam = a.family[e] as 4 | 6;
      const target = cidrText(a.bytes.subarray(off, off + (fam === 4 ? 4 : 16)), fam, a.prefixLen[e]);
      entries[e] = [a.jail[e], target, Math.max(1, Math.round(a.weight[e])), a.last[e]];
    }
    a.clear();
    const payloads = encodeCounts(this.opts.key, this.opts.node, this.jailNames, entries);
    let sent = 0;
    try {
      sent = await this.opts.bus.notify(countsChannel(this.opts.channel), payloads);
    } catch (err) {
      this.throttle.warn('counts-send', 'bus', { err: asError(err) }, 'fleet counts not sent');
    }
    // entries are spread evenly enough over the payloads for the metric
    const sentEntries = sent === payloads.length ? n : Math.round((n * sent) / payloads.length);
    let bytes = 0;
    for (let i = 0; i < sent; i++) bytes += Buffer.byteLength(payloads[i]);
    this.stats.sentMessages += sent;
    this.stats.sentEntries += sentEntries;
    this.stats.sentBytes += bytes;
    this.stats.dropped += n - sentEntries;
    this.m?.messages.inc({ direction: 'sent' }, sent);
    this.m?.aggregates.inc({ direction: 'sent' }, sentEntries);
    if (n > sentEntries) this.m?.aggregates.inc({ direction: 'dropped' }, n - sentEntries);
    this.m?.bytes.inc(bytes);
  }

  private onPayload(payload: string): void {
    let msg: ReturnType<typeof decodeCounts>;
    try {
      msg = decodeCounts(this.opts.key, payload);
    } catch (err) {
      this.stats.rejected++;
      this.throttle.warn(
        'counts-refused',
        'bus',
        { err: asError(err), bytes: payload.length },
        'fleet counts refused',
      );
      return;
    }
    if (msg.node === this.opts.node) return; // our own, echoed back
    this.stats.receivedMessages++;
    this.stats.receivedEntries += msg.failures.length;
    this.m?.messages.inc({ direction: 'received' });
    this.m?.aggregates.inc({ direction: 'received' }, msg.failures.length);
    for (const f of msg.failures) {
      try {
        this.opts.engine.recordRemoteFailures(f.jail, f.target, f.weight, f.at);
      } catch (err) {
        this.throttle.warn(
          'counts-apply',
          msg.node,
          { err: asError(err), node: msg.node },
          'fleet counts not applied',
        );
      }
    }
  }
}
