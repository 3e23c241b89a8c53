import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotMap } from '../../src/main/jails/slots.js';

test('a full slot map gives the least recently touched key its slot, and reuses deleted ones', () => {
  const m = new SlotMap<string>(3);
  const a = m.add('a');
  const b = m.add('b');
  m.add('c');
  assert.equal(m.touch('a'), a); // b is now the oldest
  const d = m.add('d');
  assert.equal(d, b);
  assert.equal(m.touch('b'), -1);
  assert.equal(m.evictions, 1);
  m.delete('c');
  assert.equal(m.size, 2);
  m.add('e'); // the freed slot, nothing evicted
  assert.equal(m.evictions, 1);
  m.add('f'); // full again: a (touched before d was added) goes
  assert.equal(m.touch('a'), -1);
  assert.deepEqual(
    ['d', 'e', 'f'].map((k) => m.touch(k) >= 0),
    [true, true, true],
  );
  assert.equal(m.size, 3);
});
