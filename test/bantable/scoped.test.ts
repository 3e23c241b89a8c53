import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BanTable,
  Kind,
  type KindCode,
  LookupResult,
  SERVICE_ANY,
  SERVICE_SOME,
  SERVICE_UNSCOPED,
  Verdict,
} from '../../src/shared/bantable/index.js';
import { formatIp, maskInPlace } from '../../src/shared/ip/parse.js';

/**
 * Scoped bans against a plain model: per key, the kinds of the main table and one expiry per
 * service. A request for a service is denied by a main-table ban, or (when the main table says
 * nothing) by a covering scoped ban of that service; a request naming no service by any. As for
 * temporary bans of the main table, the most specific covering key in force decides the
 * expiry; a request naming no service takes the latest of that key's services.
 */
interface Entry {
  kinds: Set<KindCode>;
  exp: number;
  scoped: Map<number, number>;
}

function keyOf(bytes: Uint8Array, fam: 4 | 6, len: number): string {
  const b = bytes.slice(0, fam === 4 ? 4 : 16);
  maskInPlace(b, len);
  return `${formatIp(b, fam)}/${len}`;
}

function modelCheck(
  model: Map<string, Entry>,
  bytes: Uint8Array,
  fam: 4 | 6,
  now: number,
  service: number,
): [number, number, number] {
  let best: number = Kind.NONE;
  let scopedExp = 0;
  const max = fam === 4 ? 32 : 128;
  for (let len = max; len >= 0; len--) {
    const e = model.get(keyOf(bytes, fam, len));
    if (!e) continue;
    if (e.kinds.has(Kind.WHITELIST)) best = Math.max(best, Kind.WHITELIST);
    if (e.kinds.has(Kind.BLACKLIST)) best = Math.max(best, Kind.BLACKLIST);
    if (e.kinds.has(Kind.TEMP_BAN) && e.exp > now) best = Math.max(best, Kind.TEMP_BAN);
    if (scopedExp > 0) continue;
    for (const [s, exp] of e.scoped)
      if ((service === SERVICE_ANY || service === s) && exp > now) scopedExp = Math.max(scopedExp, exp);
  }
  if (best === Kind.NONE && scopedExp > 0) return [Verdict.DENY, Kind.TEMP_BAN, scopedExp];
  return [best === Kind.BLACKLIST || best === Kind.TEMP_BAN ? Verdict.DENY : Verdict.ALLOW, best, -1];
}

const v4 = fc
  .tuple(fc.constantFrom(10, 192), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 3 }))
  .map(([a, b, c]) => new Uint8Array([a, b, 0, c]));
const v6 = fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 3 })).map(([a, c]) => {
  const u = new Uint8Array(16);
  u[0] = 0x20;
  u[1] = 0x01;
  u[5] = a;
  u[15] = c;
  return u;
});
const addr = fc.oneof(
  v4.map((b) => ({ b, fam: 4 as const })),
  v6.map((b) => ({ b, fam: 6 as const })),
);
const lenSel = fc.integer({ min: 0, max: 2 });
const service = fc.integer({ min: 0, max: 2 });
const op = fc.oneof(
  fc.record({
    t: fc.constant('set' as const),
    a: addr,
    kind: fc.constantFrom<KindCode>(Kind.TEMP_BAN, Kind.BLACKLIST, Kind.WHITELIST),
    lenSel,
    exp: fc.integer({ min: 1, max: 60 }),
  }),
  fc.record({ t: fc.constant('del' as const), a: addr, kind: fc.constant(Kind.TEMP_BAN), lenSel }),
  fc.record({
    t: fc.constant('scope' as const),
    a: addr,
    lenSel,
    service,
    exp: fc.integer({ min: 1, max: 60 }),
  }),
  fc.record({ t: fc.constant('unscope' as const), a: addr, lenSel, service }),
  fc.record({ t: fc.constant('sweep' as const), now: fc.integer({ min: 0, max: 60 }) }),
  fc.record({
    t: fc.constant('check' as const),
    a: addr,
    now: fc.integer({ min: 0, max: 60 }),
    service: fc.constantFrom(SERVICE_ANY, SERVICE_UNSCOPED, 0, 1, 2),
  }),
);

function lenFor(fam: 4 | 6, sel: number): number {
  return fam === 4 ? [32, 32, 24][sel] : [128, 64, 48][sel];
}

test('scoped verdicts match a model over bans, scoped bans, lifts, sweeps and growth', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 250 }), (ops) => {
      const table = new BanTable({ initialCapacity: 16 });
      for (const s of ['imap', 'smtp', 'http']) table.services.register(s);
      const model = new Map<string, Entry>();
      const entry = (k: string): Entry => {
        let e = model.get(k);
        if (!e) {
          e = { kinds: new Set(), exp: 0, scoped: new Map() };
          model.set(k, e);
        }
        return e;
      };
      const out = new LookupResult();
      for (const o of ops) {
        if (o.t === 'check') {
          const [v, k, exp] = modelCheck(model, o.a.b, o.a.fam, o.now, o.service);
          const got = table.checkBytes(o.a.b, 0, o.a.fam === 4 ? 4 : 16, o.now, out, o.service);
          assert.equal(got, v);
          assert.equal(out.kind, k);
          if (exp > 0) {
            assert.equal(out.expiresAt, exp);
            assert.equal(out.service, o.service === SERVICE_ANY ? SERVICE_SOME : o.service);
          } else assert.equal(out.service, -1);
          continue;
        }
        if (o.t === 'sweep') {
          table.sweep(o.now);
          for (const e of model.values()) {
            if (e.kinds.has(Kind.TEMP_BAN) && e.exp <= o.now) e.kinds.delete(Kind.TEMP_BAN);
            for (const [s, exp] of e.scoped) if (exp <= o.now) e.scoped.delete(s);
          }
          continue;
        }
        const len = lenFor(o.a.fam, o.lenSel);
        const e = entry(keyOf(o.a.b, o.a.fam, len));
        if (o.t === 'set') {
          table.set(o.a.b, o.a.fam, len, o.kind, o.exp, 1, 0);
          e.kinds.add(o.kind);
          if (o.kind === Kind.TEMP_BAN) e.exp = o.exp;
        } else if (o.t === 'del') {
          assert.equal(table.delete(o.a.b, o.a.fam, len, o.kind), e.kinds.has(o.kind));
          e.kinds.delete(o.kind);
        } else if (o.t === 'scope') {
          table.setScoped(o.service, o.a.b, o.a.fam, len, o.exp, 2, 0);
          e.scoped.set(o.service, o.exp);
        } else {
          assert.equal(table.deleteScoped(o.service, o.a.b, o.a.fam, len), e.scoped.has(o.service));
          e.scoped.delete(o.service);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('a mail-only ban denies imap and a request naming no service, and allows http', () => {
  const t = new BanTable();
  const imap = t.services.register('imap');
  const http = t.services.register('http');
  const out = new LookupResult();
  t.setScoped(imap, new Uint8Array([203, 0, 113, 9]), 4, 32, 1000, 1, t.reasonId('5 failures (dovecot)'));
  assert.equal(t.checkString('203.0.113.9', 10, out, imap), Verdict.DENY);
  assert.equal(out.service, imap);
  assert.equal(t.reasonText(out.reasonId), '5 failures (dovecot)');
  assert.equal(t.checkString('203.0.113.9', 10, out, http), Verdict.ALLOW);
  assert.equal(t.checkString('203.0.113.9', 10, out, SERVICE_UNSCOPED), Verdict.ALLOW);
  assert.equal(t.checkString('203.0.113.9', 10, out), Verdict.DENY);
  assert.equal(t.services.lookupBytes(Buffer.from('IMAP'), 0, 4), imap);
  assert.equal(t.services.lookup('pop3'), SERVICE_UNSCOPED);
  // a whitelist entry in the main table hides the scoped ban too
  t.set(new Uint8Array([203, 0, 113, 0]), 4, 24, Kind.WHITELIST, 0, 0, 0);
  assert.equal(t.checkString('203.0.113.9', 10, out, imap), Verdict.ALLOW);
  assert.equal(out.kind, Kind.WHITELIST);
});

test('the scoped mark goes once the last scoped ban of a key is swept', () => {
  const t = new BanTable();
  const imap = t.services.register('imap');
  const smtp = t.services.register('smtp');
  const a = new Uint8Array([198, 51, 100, 7]);
  t.setScoped(imap, a, 4, 32, 100, 1, 0);
  t.setScoped(smtp, a, 4, 32, 200, 1, 0);
  assert.equal(t.has(a, 4, 32), true);
  t.sweep(150);
  assert.equal(t.has(a, 4, 32), true, 'smtp still holds it');
  t.sweep(250);
  assert.equal(t.has(a, 4, 32), false);
  assert.equal(t.stats().exact, 0);
});
