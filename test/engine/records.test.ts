import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { KeyedRows } from '../../src/main/engine/keyed-rows.js';
import { Offences, TempBans } from '../../src/main/engine/records.js';
import { StringPool } from '../../src/main/engine/strings.js';
import { formatIp, parseCidr } from '../../src/shared/ip/parse.js';

/** Canonical text, as the engine writes targets. */
function canonical(t: string): string {
  const c = parseCidr(t);
  return c.prefixLen === (c.family === 4 ? 32 : 128) ? formatIp(c.bytes, c.family) : c.text;
}

/** Targets the runs pick from: IPv4 addresses and ranges, IPv6 addresses and prefixes. */
const TARGETS = [
  ...Array.from({ length: 40 }, (_, i) => `198.51.${i >> 3}.${i}`),
  '10.0.0.0/8',
  '10.0.0.0/16',
  ...Array.from({ length: 20 }, (_, i) => `2001:db8:0:${i.toString(16)}::/64`),
  '2001:db8::1',
  '2001:db8::/48',
].map(canonical);

function fields(i: number, exp: number) {
  return {
    reason: `reason ${i % 3}`,
    pattern: i % 2 ? null : `p${i % 4}`,
    createdAt: exp - 1000,
    expiresAt: exp,
    createdBy: i % 5 ? 'engine' : 'api',
    offences: 1 + (i % 7),
    node: `n${i % 2}`,
  };
}

describe('typed-column records agree with a Map', () => {
  // the index's two layouts: hash tags beside the rows, and (past 2^23 rows) rows alone
  for (const tagged of [true, false])
    test(`put, remove, find, walk order and compaction (with a cursor across it) match a Map over random runs (${tagged ? 'tagged' : 'untagged'} index)`, () => {
      const limit = KeyedRows.taggedIndexMax;
      if (!tagged) KeyedRows.taggedIndexMax = 0;
      try {
        modelRuns();
      } finally {
        KeyedRows.taggedIndexMax = limit;
      }
    });

  function modelRuns(): void {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            {
              weight: 5,
              arbitrary: fc.record({ op: fc.constant('put' as const), i: fc.nat(TARGETS.length - 1) }),
            },
            {
              weight: 4,
              arbitrary: fc.record({ op: fc.constant('del' as const), i: fc.nat(TARGETS.length - 1) }),
            },
            { weight: 1, arbitrary: fc.record({ op: fc.constant('compact' as const), i: fc.constant(0) }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant('step' as const), i: fc.nat(5) }) },
            // the restore's way: find, then putNew on a miss (sometimes after finding another key)
            {
              weight: 4,
              arbitrary: fc.record({
                op: fc.constant('fresh' as const),
                i: fc.nat(TARGETS.length - 1),
                j: fc.option(fc.nat(TARGETS.length - 1)),
              }),
            },
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          const strings = new StringPool();
          const t = new TempBans(strings);
          const m = new Map<string, number>();
          // a walk under way: what it has visited, as a Map iterator would see it
          const cursor = t.openCursor();
          let exp = Date.UTC(2026, 0, 1) + 0.5; // a fraction: doubles keep it
          for (const o of ops) {
            const target = TARGETS[o.i];
            const c = parseCidr(target);
            if (o.op === 'put') {
              exp += 1;
              t.put(c.bytes, c.family, c.prefixLen, fields(o.i, exp));
              m.set(target, exp);
            } else if (o.op === 'del') {
              t.remove(t.find(c.bytes, c.family, c.prefixLen));
              m.delete(target);
            } else if (o.op === 'fresh') {
              exp += 1;
              const r = t.find(c.bytes, c.family, c.prefixLen);
              if (r >= 0) t.put(c.bytes, c.family, c.prefixLen, fields(o.i, exp));
              else {
                const j = 'j' in o ? o.j : null;
                if (j !== null && j !== undefined) {
                  const d = parseCidr(TARGETS[j]);
                  t.find(d.bytes, d.family, d.prefixLen);
                }
                t.putNew(c.bytes, c.family, c.prefixLen, fields(o.i, exp));
              }
              m.set(target, exp);
            } else if (o.op === 'compact') {
              // every row dead but a few: tombstones past the threshold are squeezed out
              t.maybeCompact();
            } else {
              for (let k = 0; k < o.i && cursor.row < t.end; k++) cursor.row++;
            }
            assert.equal(t.size, m.size);
          }
          const walked: [string, number][] = [];
          for (let r = 0; r < t.end; r++) if (t.isLive(r)) walked.push([t.targetText(r), t.expiresAt(r)]);
          assert.deepEqual(walked, [...m]);
          for (const [target, e] of m) {
            const r = t.findText(target);
            assert.ok(r >= 0, target);
            const rec = t.record(r);
            assert.equal(rec.target, target);
            assert.equal(rec.expiresAt, e);
            const i = TARGETS.indexOf(target);
            assert.deepEqual(
              { ...rec, target: undefined, kind: undefined },
              {
                ...fields(i, e),
                target: undefined,
                kind: undefined,
              },
            );
          }
          for (const target of TARGETS) if (!m.has(target)) assert.equal(t.findText(target), -1, target);
          assert.ok(cursor.row <= t.end);
          t.closeCursor(cursor);
        },
      ),
      { seed: 0x7ab1e, numRuns: 300 },
    );
  }

  test('compaction keeps order and a walk in step: every row present at its start is visited once', () => {
    const t = new Offences();
    const n = 5000;
    const b = new Uint8Array(4);
    const put = (i: number) => {
      b[0] = 11;
      b[1] = i >> 16;
      b[2] = (i >> 8) & 255;
      b[3] = i & 255;
      t.put(b, 4, 32, i, i * 10);
    };
    for (let i = 0; i < n; i++) put(i);
    const cursor = t.openCursor();
    const seen: number[] = [];
    // walk half, drop most rows behind and ahead of the cursor, compact, walk the rest
    for (; cursor.row < n / 2; cursor.row++) seen.push(t.banCount(cursor.row));
    for (let i = 0; i < n; i++) if (i % 10 !== 0) t.remove(t.findText(`11.0.${(i >> 8) & 255}.${i & 255}`));
    const endBefore = t.end;
    t.maybeCompact();
    assert.ok(t.end < endBefore, 'tombstones squeezed out');
    for (; cursor.row < t.end; cursor.row++) if (t.isLive(cursor.row)) seen.push(t.banCount(cursor.row));
    t.closeCursor(cursor);
    const want = [
      ...Array.from({ length: n / 2 }, (_, i) => i),
      ...Array.from({ length: n / 2 }, (_, i) => i + n / 2).filter((i) => i % 10 === 0),
    ];
    assert.deepEqual(seen, want);
    for (let i = 0; i < n; i += 10)
      assert.equal(t.lastOffence(t.findText(`11.0.${(i >> 8) & 255}.${i & 255}`)), i * 10);
  });

  test('strings are shared while used and dropped with their last ban', () => {
    const strings = new StringPool();
    const t = new TempBans(strings);
    const base = { pattern: null, createdAt: 1, expiresAt: 2, createdBy: 'api', offences: 1, node: 'n' };
    for (let i = 0; i < 1000; i++) {
      const c = parseCidr(`203.0.${i >> 8}.${i & 255}`);
      t.put(c.bytes, 4, 32, { ...base, reason: `made up ${i}` });
    }
    assert.equal(strings.size, 1002); // 1000 reasons, 'api', 'n'
    for (let i = 0; i < 1000; i++) t.remove(t.findText(`203.0.${i >> 8}.${i & 255}`));
    assert.equal(strings.size, 0);
  });
});
