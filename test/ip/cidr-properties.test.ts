import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalTarget, cidrCovers, cidrText, prefixEquals } from '../../src/shared/ip/cidr.js';
import { formatIp, type ParsedCidr, parseCidr } from '../../src/shared/ip/parse.js';

/** The network address alone (a bare address has no `/len` in its parsed text). */
const net = (c: ParsedCidr): string => formatIp(c.bytes, c.family);

/**
 * The shared CIDR text and coverage checks against independent references: the WHATWG URL
 * serializer for RFC 5952 IPv6 text, and Node's own `net.BlockList` for containment
 * (fixed seed, time budget).
 */

const RUN = { seed: 0xc1d5, numRuns: 2000, interruptAfterTimeLimit: 4000 } as const;

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
/** Groups drawn mostly from zero so runs of zeros (and `::` choices) are common. */
const group = fc.oneof(fc.constant(0), fc.constant(0), fc.nat(0xffff));
const v6Groups = fc.array(group, { minLength: 8, maxLength: 8 });
/** Full uncompressed spelling, mixed case: every canonical form must come from the bytes alone. */
const v6 = fc
  .tuple(v6Groups, fc.boolean())
  .filter(([g]) => !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff))
  .map(([g, upper]) => {
    const s = g.map((x) => x.toString(16).padStart(4, '0')).join(':');
    return upper ? s.toUpperCase() : s;
  });
const v4Cidr = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, l]) => `${a}/${l}`);
const v6Cidr = fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, l]) => `${a}/${l}`);
const target = fc.oneof(v4, v6, v4Cidr, v6Cidr);

describe('canonical target text', () => {
  test('IPv6 text is what the WHATWG URL serializer writes (RFC 5952: lower case, longest zero run)', () => {
    fc.assert(
      fc.property(v6, (a) => {
        const expected = new URL(`http://[${a}]/`).hostname.slice(1, -1);
        assert.equal(canonicalTarget(a), expected);
      }),
      RUN,
    );
  });

  test('canonical text is a fixed point, and a full-length prefix is the bare address', () => {
    fc.assert(
      fc.property(target, (t) => {
        const c = canonicalTarget(t);
        assert.notEqual(c, null);
        assert.equal(canonicalTarget(c as string), c);
        const p = parseCidr(t);
        const full = p.family === 4 ? 32 : 128;
        assert.equal((c as string).includes('/'), p.prefixLen !== full);
        assert.equal(cidrText(p.bytes, p.family, p.prefixLen), c);
      }),
      RUN,
    );
  });

  test('an IPv4-mapped spelling is the IPv4 target; host bits are cleared; junk is null', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), (a, l) => {
        assert.equal(canonicalTarget(`::ffff:${a}`), canonicalTarget(a));
        assert.equal(canonicalTarget(`::ffff:${a}/${96 + l}`), canonicalTarget(`${a}/${l}`));
      }),
      RUN,
    );
    for (const junk of ['', 'nope', '1.2.3.4/33', '2001:db8::/129', 'fe80::1%eth0', '1.2.3.4/x'])
      assert.equal(canonicalTarget(junk), null, junk);
  });
});

describe('coverage', () => {
  test('covers(outer, inner) agrees with net.BlockList holding the outer subnet', () => {
    const pair = fc.oneof(fc.tuple(v4Cidr, fc.oneof(v4, v4Cidr)), fc.tuple(v6Cidr, fc.oneof(v6, v6Cidr)));
    fc.assert(
      fc.property(pair, ([o, i]) => {
        const outer = parseCidr(o);
        const inner = parseCidr(i);
        const type = outer.family === 4 ? 'ipv4' : 'ipv6';
        const list = new BlockList();
        list.addSubnet(net(outer), outer.prefixLen, type);
        // inner lies inside outer when outer holds inner's network and inner is no wider
        const expected = inner.prefixLen >= outer.prefixLen && list.check(net(inner), type);
        assert.equal(cidrCovers(outer, inner), expected);
      }),
      RUN,
    );
  });

  test('a prefix covers itself and everything under it; families never mix', () => {
    fc.assert(
      fc.property(target, fc.nat(128), (t, extra) => {
        const outer = parseCidr(t);
        assert.ok(cidrCovers(outer, outer));
        const max = outer.family === 4 ? 32 : 128;
        const longer = Math.min(max, outer.prefixLen + (extra % (max + 1)));
        const inner = parseCidr(`${net(outer)}/${longer}`);
        assert.ok(cidrCovers(outer, inner));
        assert.equal(cidrCovers(inner, outer), longer === outer.prefixLen);
        const other = parseCidr(outer.family === 4 ? '::/0' : '0.0.0.0/0');
        assert.equal(cidrCovers(other, outer), false);
      }),
      RUN,
    );
  });

  test('prefixEquals compares exactly the first len bits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(127), (a, bit) => {
        const b = a.slice();
        b[bit >> 3] ^= 0x80 >> (bit & 7);
        assert.ok(prefixEquals(a, b, bit));
        assert.equal(prefixEquals(a, b, bit + 1), false);
      }),
      RUN,
    );
  });
});
