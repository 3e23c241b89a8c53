import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CidrFilter } from '../../src/shared/ip/cidr-filter.js';
import { ADDRESS_SOURCES, resolveClientAddress } from '../../src/shared/ip/forwarding.js';
import { FAMILY_INVALID, formatIp } from '../../src/shared/ip/parse.js';

/**
 * /auth client-address choice against a small reference model, over random forwarding headers
 * and trusted-proxy sets (fixed seed, time budget).
 */

const RUN = { seed: 0x5eed, numRuns: 3000, interruptAfterTimeLimit: 4000 } as const;

/** Addresses with the spellings a header may carry, and their canonical text. */
const POOL: { canonical: string; spellings: string[] }[] = [
  { canonical: '198.51.100.7', spellings: ['198.51.100.7', '198.51.100.7:8080', '::ffff:198.51.100.7'] },
  { canonical: '203.0.113.9', spellings: ['203.0.113.9', ' 203.0.113.9 ', '203.0.113.9:1'] },
  { canonical: '10.1.2.3', spellings: ['10.1.2.3', '10.1.2.3:443'] },
  { canonical: '10.9.9.9', spellings: ['10.9.9.9'] },
  { canonical: '127.0.0.1', spellings: ['127.0.0.1'] },
  {
    canonical: '2001:db8::1',
    spellings: ['2001:db8::1', '2001:DB8:0:0::1', '[2001:db8::1]', '[2001:db8::1]:443'],
  },
  { canonical: 'fd00::5', spellings: ['fd00::5', '[fd00::5]:80'] },
];
const GARBAGE = ['unknown', '1.2.3', 'zz', '[::1', '999.1.1.1', '', 'a:b:c:d:e:f:g:h:i', '_hidden'];

type Hop = { kind: 'addr'; i: number; spelling: number } | { kind: 'junk'; j: number };

const hop: fc.Arbitrary<Hop> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('addr' as const),
      i: fc.nat(POOL.length - 1),
      spelling: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), j: fc.nat(GARBAGE.length - 1) }) },
);

const hopText = (h: Hop): string =>
  h.kind === 'junk' ? GARBAGE[h.j] : POOL[h.i].spellings[h.spelling % POOL[h.i].spellings.length];
const hopValue = (h: Hop): string | null => (h.kind === 'junk' ? null : POOL[h.i].canonical);

/** Trusted proxies as a set of canonical addresses, optionally with 10.0.0.0/8. */
const trustedSet = fc.record({ addrs: fc.subarray(POOL.map((p) => p.canonical)), ten: fc.boolean() });
type Trusted = { addrs: string[]; ten: boolean };
const trusts = (t: Trusted, canonical: string) =>
  t.addrs.includes(canonical) || (t.ten && canonical.startsWith('10.'));
const cidrs = (t: Trusted) => [...t.addrs, ...(t.ten ? ['10.0.0.0/8'] : [])];

type Headers = Partial<Record<(typeof ADDRESS_SOURCES)[number], Hop[]>>;

function headerText(name: string, hops: Hop[]): string {
  if (name !== 'forwarded') return hops.map(hopText).join(name === 'x-forwarded-for' ? ', ' : ',');
  return hops
    .map((h) => {
      const t = hopText(h);
      return t.includes(':') || t.includes(' ') ? `for="${t.trim()}"` : `for=${t}`;
    })
    .join(', ');
}

/** The reference: what the address should be, written from the rules, not the code. */
function model(headers: Headers, peer: { i: number; mapped: boolean }, t: Trusted): string | null {
  const peerCanon = POOL[peer.i].canonical;
  if (!trusts(t, peerCanon)) return peerCanon;
  for (const name of ADDRESS_SOURCES) {
    const hops = headers[name];
    if (hops === undefined) continue;
    if (headerText(name, hops) === '') continue; // an empty header is no header
    if (name === 'x-forwarded-for' || name === 'forwarded') {
      let last: string | null = null;
      for (let k = hops.length - 1; k >= 0; k--) {
        const v = hopValue(hops[k]);
        if (v === null) return null;
        if (!trusts(t, v)) return v;
        last = v;
      }
      return last;
    }
    // single-address headers: exactly one well-formed address
    if (hops.length !== 1) return null;
    return hopValue(hops[0]);
  }
  return peerCanon;
}

const headersArb: fc.Arbitrary<Headers> = fc.record(
  Object.fromEntries(ADDRESS_SOURCES.map((n) => [n, fc.array(hop, { minLength: 1, maxLength: 4 })])) as {
    [K in (typeof ADDRESS_SOURCES)[number]]: fc.Arbitrary<Hop[]>;
  },
  { requiredKeys: [] },
);

describe('/auth client address properties', () => {
  test('agrees with the reference model; never throws; the answer is the peer or a believed header hop', () => {
    const out = new Uint8Array(16);
    fc.assert(
      fc.property(
        headersArb,
        fc.record({ i: fc.nat(POOL.length - 1), mapped: fc.boolean() }),
        trustedSet,
        (headers, peer, t) => {
          const raw: Record<string, string> = {};
          for (const [name, hops] of Object.entries(headers)) raw[name] = headerText(name, hops as Hop[]);
          const canon = POOL[peer.i].canonical;
          const peerText = peer.mapped && !canon.includes(':') ? `::ffff:${canon}` : canon;
          const fam = resolveClientAddress(raw, peerText, new CidrFilter(cidrs(t)), out);
          const got = fam === FAMILY_INVALID ? null : formatIp(out, fam);
          assert.equal(got, model(headers, peer, t), JSON.stringify({ raw, peerText, t }));
          if (got !== null && got !== canon) {
            assert.ok(trusts(t, canon), 'a header is believed only from a trusted peer');
            assert.ok(Object.values(headers).some((hs) => (hs as Hop[]).some((h) => hopValue(h) === got)));
          }
        },
      ),
      RUN,
    );
  });

  test('random header bytes never throw and never name an address absent from the input', () => {
    const out = new Uint8Array(16);
    const trusted = new CidrFilter(['127.0.0.0/8']);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...ADDRESS_SOURCES), fc.string({ maxLength: 60 })), (raw) => {
        const fam = resolveClientAddress(raw, '127.0.0.1', trusted, out);
        if (fam !== FAMILY_INVALID && formatIp(out, fam) !== '127.0.0.1')
          assert.ok(Object.values(raw).some((v) => v.length > 0));
      }),
      RUN,
    );
  });
});
