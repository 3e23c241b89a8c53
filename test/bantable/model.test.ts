import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BanTable, Kind, type KindCode, LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { formatIp, maskInPlace } from '../../src/shared/ip/parse.js';

/**
 * The table must agree with a plain model: a Map from "addr/len" to the kinds present, the temp
 * expiry, evaluated by brute force over every covering prefix with the design's precedence.
 */
interface ModelEntry {
  kinds: Set<KindCode>;
  exp: number;
}

function keyOf(bytes: Uint8Array, fam: 4 | 6, len: number): string {
  const b = bytes.slice(0, fam === 4 ? 4 : 16);
  maskInPlace(b, len);
  return `${formatIp(b, fam)}/${len}`;
}

function modelVerdict(
  model: Map<string, ModelEntry>,
  bytes: Uint8Array,
  fam: 4 | 6,
  now: number,
): [number, number] {
  let best: number = Kind.NONE;
  const max = fam === 4 ? 32 : 128;
  for (let len = max; len >= 0; len--) {
    const e = model.get(keyOf(bytes, fam, len));
    if (!e) continue;
    if (e.kinds.has(Kind.WHITELIST)) best = Math.max(best, Kind.WHITELIST);
    if (e.kinds.has(Kind.BLACKLIST)) best = Math.max(best, Kind.BLACKLIST);
    if (e.kinds.has(Kind.TEMP_BAN) && e.exp > now) best = Math.max(best, Kind.TEMP_BAN);
  }
  const verdict = best === Kind.BLACKLIST || best === Kind.TEMP_BAN ? Verdict.DENY : Verdict.ALLOW;
  return [verdict, best];
}

// Small address space so operations collide: a few /16s of IPv4 and a few /48s of IPv6.
const v4Addr = fc
  .tuple(
    fc.constantFrom(10, 192),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 7 }),
  )
  .map((a) => new Uint8Array(a));
const v6Addr = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 }))
  .map(([a, b, c]) => {
    const u = new Uint8Array(16);
    u[0] = 0x20;
    u[1] = 0x01;
    u[5] = a;
    u[7] = b;
    u[15] = c;
    return u;
  });
const addr = fc.oneof(
  v4Addr.map((b) => ({ b, fam: 4 as const })),
  v6Addr.map((b) => ({ b, fam: 6 as const })),
);
const kind = fc.constantFrom<KindCode>(Kind.TEMP_BAN, Kind.BLACKLIST, Kind.WHITELIST);
const op = fc.oneof(
  fc.record({
    t: fc.constant('set' as const),
    a: addr,
    kind,
    lenSel: fc.integer({ min: 0, max: 4 }),
    exp: fc.integer({ min: 1, max: 60 }),
  }),
  fc.record({ t: fc.constant('del' as const), a: addr, kind, lenSel: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ t: fc.constant('sweep' as const), now: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ t: fc.constant('check' as const), a: addr, now: fc.integer({ min: 0, max: 60 }) }),
);

function lenFor(fam: 4 | 6, sel: number): number {
  return fam === 4 ? [32, 32, 24, 16, 8][sel] : [128, 128, 64, 48, 32][sel];
}

test('verdicts match a Map model over random inserts, deletes, expiries, ranges and growth', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 300 }), (ops) => {
      const table = new BanTable({ initialCapacity: 16 }); // small: forces growth and new generations
      const model = new Map<string, ModelEntry>();
      const out = new LookupResult();
      for (const o of ops) {
        if (o.t === 'set') {
          const len = lenFor(o.a.fam, o.lenSel);
          table.set(o.a.b, o.a.fam, len, o.kind, o.exp, 1, 0);
          const k = keyOf(o.a.b, o.a.fam, len);
          const e = model.get(k) ?? { kinds: new Set<KindCode>(), exp: 0 };
          e.kinds.add(o.kind);
          if (o.kind === Kind.TEMP_BAN) e.exp = o.exp;
          model.set(k, e);
        } else if (o.t === 'del') {
          const len = lenFor(o.a.fam, o.lenSel);
          const k = keyOf(o.a.b, o.a.fam, len);
          const e = model.get(k);
          const expected = e?.kinds.has(o.kind) ?? false;
          assert.equal(table.delete(o.a.b, o.a.fam, len, o.kind), expected);
          if (e && expected) {
            e.kinds.delete(o.kind);
            if (o.kind === Kind.TEMP_BAN) e.exp = 0;
            if (e.kinds.size === 0) model.delete(k);
          }
        } else if (o.t === 'sweep') {
          table.sweep(o.now);
          for (const [k, e] of model) {
            if (e.kinds.has(Kind.TEMP_BAN) && e.exp <= o.now) {
              e.kinds.delete(Kind.TEMP_BAN);
              e.exp = 0;
              if (e.kinds.size === 0) model.delete(k);
            }
          }
        } else {
          const [v, k] = modelVerdict(model, o.a.b, o.a.fam, o.now);
          const got =
            o.a.fam === 4
              ? table.checkBytes(o.a.b, 0, 4, o.now, out)
              : table.checkBytes(o.a.b, 0, 16, o.now, out);
          assert.equal(got, v);
          assert.equal(out.kind, k);
        }
      }
      // the entry count agrees with the model after everything
      let kinds = 0;
      for (const e of model.values()) kinds += e.kinds.size;
      assert.equal([...table.entries()].length, kinds);
    }),
    { numRuns: 300 },
  );
});

test('an expired temporary ban answers allow before any sweep', () => {
  const t = new BanTable();
  const out = new LookupResult();
  t.set(new Uint8Array([1, 2, 3, 4]), 4, 32, Kind.TEMP_BAN, 100, 1, 0);
  assert.equal(t.checkString('1.2.3.4', 99, out), Verdict.DENY);
  assert.equal(out.expiresAt, 100);
  assert.equal(t.checkString('1.2.3.4', 100, out), Verdict.ALLOW);
  assert.equal(out.kind, Kind.NONE);
});

test('a whitelisted address inside a blacklisted range is allowed; the rest of the range is denied', () => {
  const t = new BanTable();
  const out = new LookupResult();
  t.set(new Uint8Array([10, 0, 0, 0]), 4, 8, Kind.BLACKLIST, 0, 0, t.reasonId('abuse block'));
  t.set(new Uint8Array([10, 1, 2, 3]), 4, 32, Kind.WHITELIST, 0, 0, 0);
  t.set(new Uint8Array([10, 1, 2, 3]), 4, 32, Kind.TEMP_BAN, 500, 3, 0);
  assert.equal(t.checkString('10.1.2.3', 1, out), Verdict.ALLOW);
  assert.equal(out.kind, Kind.WHITELIST);
  assert.equal(t.checkString('10.1.2.4', 1, out), Verdict.DENY);
  assert.equal(out.kind, Kind.BLACKLIST);
  assert.equal(out.prefixLen, 8);
  assert.equal(t.reasonText(out.reasonId), 'abuse block');
});

test('blacklisted and temp-banned: lifting the temp ban keeps the blacklist', () => {
  const t = new BanTable();
  const out = new LookupResult();
  const a = new Uint8Array([5, 6, 7, 8]);
  t.set(a, 4, 32, Kind.BLACKLIST, 0, 0, 0);
  t.set(a, 4, 32, Kind.TEMP_BAN, 900, 2, 0);
  assert.equal(t.delete(a, 4, 32, Kind.TEMP_BAN), true);
  assert.equal(t.checkString('5.6.7.8', 1, out), Verdict.DENY);
  assert.equal(out.kind, Kind.BLACKLIST);
  assert.equal(t.delete(a, 4, 32, Kind.BLACKLIST), true);
  assert.equal(t.checkString('5.6.7.8', 1, out), Verdict.ALLOW);
});

test('a snapshot restores every entry, range and reason', () => {
  const t = new BanTable({ initialCapacity: 16 });
  for (let i = 0; i < 2000; i++)
    t.set(
      new Uint8Array([20, i >> 8, i & 255, 1]),
      4,
      32,
      Kind.TEMP_BAN,
      1000 + i,
      1,
      t.reasonId(`p${i % 3}`),
    );
  const v6 = new Uint8Array(16);
  v6.set([0x20, 0x01, 0x0d, 0xb8]);
  t.set(v6, 6, 64, Kind.TEMP_BAN, 5000, 4, t.reasonId('sshd'));
  t.set(new Uint8Array([172, 16, 0, 0]), 4, 12, Kind.WHITELIST, 0, 0, 0);
  const copy = BanTable.fromSnapshot(t.snapshot());
  const out = new LookupResult();
  assert.equal(copy.checkString('20.7.160.1', 10, out), Verdict.DENY);
  assert.equal(out.expiresAt, 1000 + 1952);
  assert.equal(copy.checkString('2001:db8::beef', 10, out), Verdict.DENY);
  assert.equal(copy.reasonText(out.reasonId), 'sshd');
  assert.equal(copy.checkString('172.31.1.1', 10, out), Verdict.ALLOW);
  assert.equal(out.kind, Kind.WHITELIST);
  assert.equal(copy.stats().exact, t.stats().exact);
  assert.equal(copy.stats().ranges, 2);
});

test('checkString rejects what is not an address without looking anything up', () => {
  const t = new BanTable();
  const out = new LookupResult();
  for (const bad of ['', '1.2.3', '256.1.1.1', '::1::', 'fe80::1%eth0', 'banana', '1.2.3.4/32']) {
    assert.equal(t.checkString(bad, 1, out), -1, bad);
  }
});
