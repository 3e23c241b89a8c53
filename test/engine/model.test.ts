import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createCore } from '../../src/main/core.js';
import type { BanPolicy } from '../../src/main/engine/types.js';
import { parseIp } from '../../src/shared/ip/parse.js';

const S = 1000;

/** Addresses the runs pick from, with the target each is counted under (IPv6 per /64). */
const POOL: { ip: string; key: string }[] = [
  ...Array.from({ length: 6 }, (_, i) => ({ ip: `198.51.100.${i + 1}`, key: `198.51.100.${i + 1}` })),
  { ip: '2001:db8:0:1::1', key: '2001:db8:0:1::/64' },
  { ip: '2001:db8:0:1::2', key: '2001:db8:0:1::/64' },
  { ip: '2001:db8:0:2::1', key: '2001:db8:0:2::/64' },
  { ip: '2001:db8:0:3::9', key: '2001:db8:0:3::/64' },
];
const V4 = 6;

/**
 * The old engine's semantics in plain Maps (with whitelist entries hiding bans, not lifting them),
 * and the trackers' admission when full: exact counts of untracked addresses' failures (the
 * sketch's, which has no collisions at this size) capped at 15 and halved every 10 × max_tracked
 * of them; a tracked address weighs the larger of its own count and that count when it got its slot.
 */
class Model {
  trackers = new Map<string, number[]>();
  freq = new Map<string, number>();
  /** The count of each tracked address when it got its slot. */
  admitted = new Map<string, number>();
  samples = 0;
  temp = new Map<string, number>();
  offences = new Map<string, { n: number; last: number }>();
  whitelist = new Set<string>();
  constructor(
    public policy: BanPolicy,
    private readonly maxTracked: number,
  ) {}

  durationFor(n: number): number {
    const p = this.policy;
    return Math.min(p.initialBanTime * p.escalationFactor ** Math.max(0, n - 1), p.maxBanTime);
  }

  nextOffence(key: string, now: number): number {
    const prev = this.offences.get(key);
    const n = prev && now - prev.last < this.policy.maxMemoryTtl ? prev.n + 1 : 1;
    this.offences.set(key, { n, last: now });
    return n;
  }

  seen(key: string): number {
    const c = Math.min(15, (this.freq.get(key) ?? 0) + 1);
    this.freq.set(key, c);
    if (++this.samples >= 10 * this.maxTracked) {
      for (const [k, v] of this.freq) this.freq.set(k, v >> 1);
      this.samples = 0;
    }
    return c;
  }

  /** Room for a newcomer seen `seen` times: the oldest gives way unless it failed more often. */
  admit(seen: number): boolean {
    for (let i = 0; i < 3; i++) {
      const oldest = this.trackers.keys().next().value as string;
      const w = Math.max(this.admitted.get(oldest) ?? 0, this.trackers.get(oldest)?.length ?? 0);
      if (w <= 1 || seen > w) {
        this.trackers.delete(oldest);
        return true;
      }
      const tr = this.trackers.get(oldest) ?? [];
      this.trackers.delete(oldest);
      this.trackers.set(oldest, tr);
    }
    return false;
  }

  fail(ip: string, key: string, t: number): number | null {
    if (this.whitelist.has(ip)) return null;
    const active = this.temp.get(key);
    if (active !== undefined && active > t) return null;
    let tr = this.trackers.get(key);
    if (tr === undefined) {
      const seen = this.seen(key);
      if (this.trackers.size >= this.maxTracked && !this.admit(seen)) {
        // turned away: this failure counts alone
        if (this.policy.maxAttempts > 1) return null;
        const exp = t + this.durationFor(this.nextOffence(key, t));
        this.temp.set(key, exp);
        return exp;
      }
      this.admitted.set(key, seen);
      tr = [];
    } else this.trackers.delete(key);
    tr = tr.filter((x) => x > t - this.policy.timeWindow);
    tr.push(t);
    if (tr.length > this.policy.maxAttempts) tr.splice(0, tr.length - this.policy.maxAttempts);
    this.trackers.set(key, tr);
    if (tr.length < this.policy.maxAttempts) return null;
    this.trackers.delete(key);
    const exp = t + this.durationFor(this.nextOffence(key, t));
    this.temp.set(key, exp);
    return exp;
  }

  failures(key: string, now: number): number {
    return (this.trackers.get(key) ?? []).filter((x) => x > now - this.policy.timeWindow).length;
  }

  banned(ip: string, key: string, now: number): boolean {
    if (this.whitelist.has(ip)) return false;
    const e = this.temp.get(key);
    return e !== undefined && e > now;
  }

  sweep(now: number): void {
    for (const [k, e] of [...this.temp]) if (e <= now) this.temp.delete(k);
    for (const [k, o] of [...this.offences])
      if (now - o.last >= this.policy.maxMemoryTtl) this.offences.delete(k);
    for (const [k, tr] of [...this.trackers])
      if (tr[tr.length - 1] <= now - this.policy.timeWindow) this.trackers.delete(k);
  }

  setPolicy(p: BanPolicy): void {
    this.policy = { ...p };
    // the engine keeps each address's newest max_attempts times when the limit drops
    for (const tr of this.trackers.values())
      if (tr.length > p.maxAttempts) tr.splice(0, tr.length - p.maxAttempts);
  }
}

type Op =
  | { op: 'fail'; i: number; dt: number }
  | { op: 'ban'; i: number; secs: number }
  | { op: 'unban'; i: number }
  | { op: 'wlAdd'; i: number }
  | { op: 'wlRemove'; i: number }
  | { op: 'sweep'; dt: number }
  | { op: 'policy'; maxAttempts: number; windowSecs: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({ op: fc.constant('fail' as const), i: fc.nat(POOL.length - 1), dt: fc.nat(10) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('ban' as const),
      i: fc.nat(POOL.length - 1),
      secs: fc.integer({ min: 1, max: 200 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unban' as const), i: fc.nat(POOL.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wlAdd' as const), i: fc.nat(V4 - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wlRemove' as const), i: fc.nat(V4 - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), dt: fc.nat(120) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('policy' as const),
      maxAttempts: fc.integer({ min: 1, max: 8 }),
      windowSecs: fc.integer({ min: 5, max: 30 }),
    }),
  },
);

describe('failure counting agrees with a plain-Map model', () => {
  test('verdicts, failures in the window and tracked counts match over random runs', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 150 }),
        fc.integer({ min: 1, max: 5 }),
        (ops, maxTracked) => {
          const policy: BanPolicy = {
            initialBanTime: 30 * S,
            maxBanTime: 600 * S,
            escalationFactor: 2,
            maxAttempts: 3,
            timeWindow: 20 * S,
            cleanupInterval: 60 * S,
            maxMemoryTtl: 900 * S,
          };
          let clock = Date.UTC(2026, 0, 1);
          const { engine } = createCore({
            nodeId: 'm',
            initialCapacity: 64,
            engine: { policy, ignoreIps: [], ipv6Prefix: 64, maxTracked },
            now: () => clock,
          });
          const model = new Model(policy, maxTracked);
          for (const o of ops) {
            switch (o.op) {
              case 'fail': {
                clock += o.dt * S;
                const p = POOL[o.i];
                const a = parseIp(p.ip);
                const got = engine.recordFailure(a.bytes, a.family, 'x', clock);
                const want = model.fail(p.ip, p.key, clock);
                assert.equal(got?.expiresAt ?? null, want, `fail ${p.ip}`);
                if (got) assert.equal(got.target, p.key);
                break;
              }
              case 'ban': {
                const p = POOL[o.i];
                engine.ban(p.key, { durationMs: o.secs * S });
                model.nextOffence(p.key, clock);
                model.temp.set(p.key, clock + o.secs * S);
                break;
              }
              case 'unban': {
                const p = POOL[o.i];
                engine.unban(p.key, {});
                model.temp.delete(p.key);
                model.trackers.delete(p.key);
                break;
              }
              case 'wlAdd':
                engine.whitelistAdd(POOL[o.i].ip, {});
                model.whitelist.add(POOL[o.i].ip);
                break;
              case 'wlRemove':
                engine.whitelistRemove(POOL[o.i].ip, {});
                model.whitelist.delete(POOL[o.i].ip);
                break;
              case 'sweep':
                clock += o.dt * S;
                engine.sweep();
                model.sweep(clock);
                break;
              case 'policy': {
                const next = { ...model.policy, maxAttempts: o.maxAttempts, timeWindow: o.windowSecs * S };
                engine.setPolicy(next);
                model.setPolicy(next);
                break;
              }
            }
            assert.equal(engine.trackedCount, model.trackers.size, `tracked after ${o.op}`);
            for (const p of POOL) {
              const st = engine.status(p.ip);
              assert.equal(st.failures, model.failures(p.key, clock), `failures of ${p.ip} after ${o.op}`);
              assert.equal(st.banned, model.banned(p.ip, p.key, clock), `verdict of ${p.ip} after ${o.op}`);
              // the engine's records: escalation memory and the ban's own expiry
              assert.equal(
                st.offences,
                model.offences.get(p.key)?.n ?? 0,
                `offences of ${p.key} after ${o.op}`,
              );
              if (st.banned)
                assert.equal(st.expiresAt, model.temp.get(p.key), `expiry of ${p.key} after ${o.op}`);
            }
            // the listed bans are the model's in force, with their expiries and escalation levels
            const listed = engine
              .list('temp', { limit: 100 })
              .items.map((r) => `${r.target} ${r.expiresAt} ${r.offences}`)
              .sort();
            const inForce = [...model.temp]
              .filter(([k, e]) => e > clock && !model.whitelist.has(k))
              .map(([k, e]) => `${k} ${e} ${model.offences.get(k)?.n}`)
              .sort();
            assert.deepEqual(listed, inForce, `listed bans after ${o.op}`);
            assert.equal(engine.activeTempBans, model.temp.size, `temp records after ${o.op}`);
          }
        },
      ),
      { seed: 0x5eed, numRuns: 400, interruptAfterTimeLimit: 5000 },
    );
  });
});
