import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createCore } from '../../src/main/core.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { jail } from '../helpers/jails.js';

const S = 1000;
const IPS = ['198.51.100.1', '198.51.100.2', '2001:db8:0:1::/64'];
const PROBE = ['198.51.100.1', '198.51.100.2', '2001:db8:0:1::7'];
/** Jail → services ([] = every service); `shadow` enforces nothing. */
const JAILS: Record<string, string[]> = { a: ['imap'], b: ['imap', 'pop3'], c: [], shadow: ['http'] };
const NAMES = Object.keys(JAILS);
const SERVICES = ['imap', 'pop3', 'http', 'ssh'];

type Op =
  | { op: 'ban'; i: number; j: number; secs: number }
  | { op: 'unban'; i: number; j: number }
  | { op: 'unbanAll'; i: number }
  | { op: 'advance'; secs: number; sweep: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('ban' as const),
      i: fc.nat(IPS.length - 1),
      j: fc.nat(NAMES.length - 1),
      secs: fc.integer({ min: 1, max: 300 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('unban' as const),
      i: fc.nat(IPS.length - 1),
      j: fc.nat(NAMES.length - 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unbanAll' as const), i: fc.nat(IPS.length - 1) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      secs: fc.integer({ min: 1, max: 200 }),
      sweep: fc.boolean(),
    }),
  },
);

test('scoped verdicts agree with a model: denied for a service iff some enforced ban in force covers it', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
      let clock = Date.UTC(2026, 10, 24);
      const { table, engine } = createCore({ nodeId: 'n', now: () => clock });
      engine.setJails(
        NAMES.map((n) => jail(n, { services: JAILS[n], mode: n === 'shadow' ? 'shadow' : 'enforce' })),
      );
      // (target, jail) → expiry in ms
      const model = new Map<string, number>();
      const out = new LookupResult();
      for (const o of ops) {
        if (o.op === 'ban') {
          // whole seconds: the table keeps seconds, the model compares the same
          engine.ban(IPS[o.i], { jail: NAMES[o.j], durationMs: o.secs * S });
          model.set(`${o.i}|${NAMES[o.j]}`, clock + o.secs * S);
        } else if (o.op === 'unban') {
          engine.unban(IPS[o.i], { jail: NAMES[o.j] });
          model.delete(`${o.i}|${NAMES[o.j]}`);
        } else if (o.op === 'unbanAll') {
          engine.unban(IPS[o.i], {});
          for (const n of NAMES) model.delete(`${o.i}|${n}`);
        } else {
          clock += o.secs * S;
          if (o.sweep) engine.sweep();
        }
        const now = Math.floor(clock / 1000);
        for (let i = 0; i < IPS.length; i++) {
          for (const svc of [...SERVICES, '']) {
            let want = false;
            for (const n of NAMES) {
              const exp = model.get(`${i}|${n}`);
              if (exp === undefined || exp <= clock || n === 'shadow') continue;
              if (svc === '' || JAILS[n].length === 0 || JAILS[n].includes(svc)) want = true;
            }
            const id = svc === '' ? undefined : table.services.lookup(svc);
            const got = table.checkString(PROBE[i], now, out, id) === Verdict.DENY;
            assert.equal(got, want, `${PROBE[i]} for ${svc || 'any service'} after ${JSON.stringify(o)}`);
          }
        }
      }
    }),
    { numRuns: 200 },
  );
});
