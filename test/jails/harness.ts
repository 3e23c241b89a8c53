import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import type { BanEvent } from '../../src/main/engine/types.js';
import type { JailSpec } from '../../src/main/jails/types.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** A jail with the given fields over plain defaults. */
export function jail(over: Partial<JailSpec> & { name: string }): JailSpec {
  return {
    enabled: true,
    patterns: [],
    maxAttempts: 3,
    timeWindow: 10 * MIN,
    initialBanTime: 10 * MIN,
    maxBanTime: 4 * 7 * DAY,
    escalationFactor: 2,
    services: [],
    weight: 'one',
    source: 'logs',
    sourceJails: [],
    mode: 'enforce',
    subnet: null,
    logpath: [],
    origin: 'config',
    ...over,
  };
}

/** An engine and ban table on a fake clock; failures as the matcher reports them. */
export function engineOnClock(ban: Partial<ReturnType<typeof defaultConfig>['ban']> = {}) {
  const cfg = defaultConfig();
  Object.assign(cfg.ban, { max_attempts: 3, initial_ban_time: 10 * MIN, ...ban });
  let clock = Date.UTC(2026, 10, 24, 12, 0, 0);
  const metrics = new Metrics({ defaultMetrics: false });
  const { table, engine } = createCore({ config: cfg, nodeId: 'n1', now: () => clock, metrics });
  const events: BanEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const out = new LookupResult();
  return {
    engine,
    table,
    metrics,
    events,
    /** One failure of `ip` now; the ban it made, if any. */
    fail: (ip: string, pattern = 'dovecot') => {
      const a = parseIp(ip);
      return engine.recordFailure(a.bytes, a.family, pattern, clock);
    },
    banned: (ip: string) => table.checkString(ip, Math.floor(clock / 1000), out) === Verdict.DENY,
    /** Deciding entry of a lookup of `ip` now (prefix length and expiry). */
    lookup: (ip: string) => {
      table.checkString(ip, Math.floor(clock / 1000), out);
      return { prefixLen: out.prefixLen, expiresAt: out.expiresAt };
    },
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

/** Lets the deferred bans (queued as microtasks) run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));
