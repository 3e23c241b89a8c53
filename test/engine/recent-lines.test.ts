import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RecentLines } from '../../src/main/engine/recent-lines.js';

type Op =
  | { op: 'add'; jail: number; addr: number; v6: boolean }
  | { op: 'clear'; jail: number; addr: number; v6: boolean }
  | { op: 'get'; jail: number; addr: number; v6: boolean };

const JAILS = ['default', 'sshd', 'mail'];

function bytesOf(addr: number, v6: boolean): Uint8Array {
  const b = new Uint8Array(16);
  if (v6) {
    b[0] = 0x20;
    b[1] = 0x01;
    b[15] = addr;
  } else b.set([198, 51, 100, addr]);
  return b;
}

test('the ring of explain lines agrees with a list model: the last lines of each key among the last N, cleared ones gone', () => {
  const cap = 40;
  const per = 5;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom('add', 'add', 'add', 'clear', 'get'),
          jail: fc.integer({ min: 0, max: 2 }),
          addr: fc.integer({ min: 0, max: 6 }),
          v6: fc.boolean(),
        }) as fc.Arbitrary<Op>,
        { maxLength: 400 },
      ),
      (ops) => {
        const ring = new RecentLines(per, cap);
        // the model: every line added, in order, with its key and whether it was cleared
        const model: { key: string; line: string; cleared: boolean }[] = [];
        let n = 0;
        for (const o of ops) {
          const key = `${o.jail}|${o.v6}|${o.addr}`;
          const bytes = bytesOf(o.addr, o.v6);
          const fam = o.v6 ? 6 : 4;
          if (o.op === 'add') {
            const line = `line ${n++}`;
            ring.add(JAILS[o.jail], bytes, fam, line);
            model.push({ key, line, cleared: false });
          } else if (o.op === 'clear') {
            ring.clear(JAILS[o.jail], bytes, fam);
            for (const m of model) if (m.key === key) m.cleared = true;
          } else {
            const want = model
              .slice(-cap)
              .filter((m) => m.key === key && !m.cleared)
              .map((m) => m.line)
              .slice(-per);
            assert.deepEqual(ring.get(JAILS[o.jail], bytes, fam), want);
          }
        }
        assert.equal(ring.size, model.slice(-cap).filter((m) => !m.cleared).length);
      },
    ),
    { seed: 20261202, numRuns: 300 },
  );
});

test('a flood of distinct addresses keeps the newest lines findable and costs no string per line', () => {
  const ring = new RecentLines();
  const b = new Uint8Array(16);
  for (let i = 0; i < 200_000; i++) {
    b[0] = 10;
    b[1] = (i >>> 16) & 255;
    b[2] = (i >>> 8) & 255;
    b[3] = i & 255;
    ring.add('default', b, 4, `failure ${i}`);
  }
  b.set([10, 3, 13, 63]); // 199,999
  assert.deepEqual(ring.get('default', b, 4), ['failure 199999']);
  b.set([10, 0, 0, 1]);
  assert.deepEqual(ring.get('default', b, 4), [], 'overwritten long ago');
  assert.equal(ring.size, 10_000);
  // a long line is cut
  ring.add('sshd', b, 4, 'x'.repeat(500));
  assert.equal(ring.get('sshd', b, 4)[0].length, 200);
});
