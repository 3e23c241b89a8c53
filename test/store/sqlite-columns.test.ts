import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toColumns } from '../../src/main/store/sqlite-columns.js';
import { cell } from '../../src/main/store/sqlite-dialect.js';

/** What the column must give back for a value SQLite returned: numbers stay numbers in a numeric column, text is text. */
function expected(values: readonly (string | number | null)[]): (string | number | null)[] {
  const numeric = values.every((v) => v === null || typeof v === 'number');
  return values.map((v) => (v === null ? null : numeric ? v : String(v)));
}

const value = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('engine', 'bench', 'default', '5 failures (sshd)') },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.integer({ min: -1e12, max: 1e15 }) },
  { weight: 1, arbitrary: fc.constant(null) },
);

test('columns built a row at a time give back every value, in order, whatever the mix of numbers, text and nulls', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { maxLength: 3000 }),
      fc.integer({ min: 0, max: 2 }),
      (rows, numericCol) => {
        // one column of numbers only, as created_at_ms is
        for (const r of rows) if (typeof r[numericCol] === 'string') r[numericCol] = r[numericCol].length;
        const { result, transfer } = toColumns(['a', 'b', 'c'], rows);
        assert.equal(result.length, rows.length);
        for (const [k, name] of ['a', 'b', 'c'].entries()) {
          const want = expected(rows.map((r) => r[k]));
          const col = result.columns[name];
          for (let i = 0; i < rows.length; i++) assert.equal(cell(col, i), want[i], `${name}[${i}]`);
        }
        assert.equal(result.columns[['a', 'b', 'c'][numericCol]].kind, 'number');
        for (const b of transfer) assert.ok(b instanceof ArrayBuffer);
      },
    ),
    { numRuns: 200 },
  );
});

test('a column of few repeated strings is a dictionary, one of distinct strings plain text', () => {
  const rows = Array.from({ length: 5000 }, (_, i) => [
    i % 3 === 0 ? 'engine' : 'api',
    `10.0.${i >> 8}.${i & 255}`,
  ]);
  const { result, transfer } = toColumns(['creator', 'ip'], rows);
  const creator = result.columns.creator;
  assert.equal(creator.kind, 'dict');
  if (creator.kind === 'dict') assert.deepEqual(creator.dict, ['engine', 'api']);
  assert.equal(result.columns.ip.kind, 'text');
  assert.equal(cell(result.columns.ip, 4999), '10.0.19.135');
  assert.equal(transfer.length, 1);
});

test("runs of one value (a restore's usual shape) come back exact across the switches to a dictionary and to text", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(value, fc.integer({ min: 1, max: 40 })), { maxLength: 200 }), (runs) => {
      const rows: (string | number | null)[][] = [];
      for (const [v, n] of runs) for (let k = 0; k < n; k++) rows.push([v]);
      const { result } = toColumns(['v'], rows);
      const want = expected(rows.map((r) => r[0]));
      for (let i = 0; i < rows.length; i++) assert.equal(cell(result.columns.v, i), want[i], `v[${i}]`);
    }),
    { numRuns: 300 },
  );
});
