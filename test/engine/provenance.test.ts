import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ProvenancePool } from '../../src/main/engine/provenance.js';
import { StringPool } from '../../src/main/engine/strings.js';

type Tuple = [string, string | null, string, string, string | null, number];

/** Few values per field, so tuples repeat, are shared, go and come back. */
const tupleArb: fc.Arbitrary<Tuple> = fc.tuple(
  fc.constantFrom('sshd', 'dovecot', 'made up', ''),
  fc.constantFrom(null, 'p1', 'p2'),
  fc.constantFrom('engine', 'api', 'fleet'),
  fc.constantFrom('n1', 'n2'),
  fc.constantFrom(null, 'imap', 'imap,smtp'),
  fc.constantFrom(0, 1, 3, 0x80000000),
);

describe('provenance tuples', () => {
  test('ids give back what was acquired, are shared by equal tuples and go with their last holder, as a counting model says', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            tupleArb.map((t) => ({ op: 'get' as const, t })),
            fc.nat(200).map((k) => ({ op: 'drop' as const, k })),
          ),
          {
            maxLength: 300,
          },
        ),
        (ops) => {
          const strings = new StringPool();
          const pool = new ProvenancePool(strings);
          const held: { id: number; t: Tuple }[] = [];
          for (const o of ops) {
            if (o.op === 'get') {
              const id = pool.acquire(...o.t);
              assert.ok(id > 0);
              // an equal tuple already held has the same id
              const same = held.find((h) => JSON.stringify(h.t) === JSON.stringify(o.t));
              if (same) assert.equal(id, same.id);
              held.push({ id, t: o.t });
            } else if (held.length > 0) {
              const [h] = held.splice(o.k % held.length, 1);
              pool.release(h.id);
            }
            for (const h of held) {
              const [reason, pattern, createdBy, node, services, mask] = h.t;
              assert.equal(pool.reason(h.id), reason);
              assert.equal(pool.pattern(h.id), pattern);
              assert.equal(pool.createdBy(h.id), createdBy);
              assert.equal(pool.node(h.id), node);
              assert.equal(pool.services(h.id), services);
              assert.equal(pool.mask(h.id), mask >>> 0);
            }
            const live = new Set(held.map((h) => JSON.stringify(h.t)));
            assert.equal(pool.size, live.size);
            const texts = new Set<string>();
            for (const h of held) for (const v of h.t.slice(0, 5)) if (typeof v === 'string') texts.add(v);
            assert.equal(strings.size, texts.size, "the string pool holds exactly the live tuples' strings");
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('ids are reused once free: a stream of one-off reasons keeps the pool at the live count', () => {
    const strings = new StringPool();
    const pool = new ProvenancePool(strings);
    const ids = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const id = pool.acquire(`made up ${i}`, null, 'api', 'n', null, 0);
      ids.add(id);
      pool.release(id);
    }
    assert.equal(pool.size, 0);
    assert.equal(strings.size, 0);
    assert.ok(ids.size <= 2, `${ids.size} ids used for one live tuple at a time`);
  });
});
