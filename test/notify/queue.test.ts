import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventQueue } from '../../src/main/notify/queue.js';
import type { NotifyEvent } from '../../src/main/notify/types.js';

const ev = (n: number): NotifyEvent => ({
  type: 'ban',
  at: n,
  node: 'n',
  jail: 'default',
  ip: `10.0.0.${n % 256}`,
});

type Op = { push: number } | { send: number; ok: boolean };

test('the queue agrees with a bounded FIFO model: oldest dropped first, a failed send keeps its events', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(
        fc.oneof(
          fc.record({ push: fc.integer({ min: 0, max: 10_000 }) }),
          fc.record({ send: fc.integer({ min: 1, max: 8 }), ok: fc.boolean() }),
        ),
        { maxLength: 200 },
      ),
      (capacity, ops: Op[]) => {
        const q = new EventQueue(capacity);
        const model: number[] = [];
        let dropped = 0;
        for (const op of ops) {
          if ('push' in op) {
            q.push(ev(op.push));
            model.push(op.push);
            if (model.length > capacity) {
              model.shift();
              dropped++;
            }
          } else {
            const batch = q.peek(op.send).map((e) => e.at);
            assert.deepEqual(batch, model.slice(0, op.send));
            if (op.ok) {
              q.drop(batch.length);
              model.splice(0, batch.length);
            }
          }
          assert.equal(q.size, model.length);
          assert.ok(q.size <= capacity);
          assert.equal(q.dropped, dropped);
        }
      },
    ),
    { seed: 20261202, numRuns: 300 },
  );
});
