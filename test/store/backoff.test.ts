import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff, backoffDelay } from '../../src/shared/backoff.js';

describe('backoff (store reconnect, fleet reconnect)', () => {
  test('doubles from the first delay and stops at the cap', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, 500, 5_000)),
      [500, 1000, 2000, 4000, 5000, 5000],
    );
  });

  test('a very long outage stays at the cap (no overflow) and a negative attempt is the first', () => {
    assert.equal(backoffDelay(10_000, 50, 60_000), 60_000);
    assert.equal(backoffDelay(-3, 50, 60_000), 50);
  });

  test('Backoff counts its own failures and starts over after reset', () => {
    const b = new Backoff(100, 350);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [100, 200, 350, 350]);
    b.reset();
    assert.equal(b.next(), 100);
  });
});
