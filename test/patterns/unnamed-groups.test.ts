import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import { compilePattern, type PatternSpec } from '../../src/shared/patterns/compile.js';
import { unnamedSource } from '../../src/shared/patterns/groups.js';

const RUN = { seed: 0x6a0b, numRuns: 3000, interruptAfterTimeLimit: 4000 };

/** Pieces with named and plain groups, classes holding parentheses, escapes and backreferences. */
const atom = fc.constantFrom(
  'a',
  'b',
  '1',
  ' ',
  '\\d',
  '[(]',
  '[^)]',
  '\\(',
  '\\)',
  '[a-b(?<x>]',
  '.',
  '\\\\',
);
const named: fc.Arbitrary<string> = fc.letrec<{ seq: string; item: string }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.tuple(atom, fc.constantFrom('*', '+', '?', '{1,2}')).map(([a, q]) => a + q),
    tie('seq').map((s) => `(?:${s})`),
    tie('seq').map((s) => `(${s})`),
    tie('seq').map((s) => `(?=${s})`),
    fc
      .tuple(fc.constantFrom('ip', 'user', 'ip_1', 'mlfid', 'nofail_0'), tie('seq'))
      .map(([n, s]) => `(?<${n}>${s})`),
    fc.tuple(tie('seq'), tie('seq')).map(([a, b]) => `(?:${a}|${b})`),
  ),
  seq: fc.array(tie('item'), { maxLength: 4 }).map((a) => a.join('')),
})).seq;
const text = fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'b', '1', ' ', '(', ')', 'x', '\\') });

/** A pattern named `p` whose address is its `ip` group. */
function specOf(regex: string): PatternSpec {
  return { name: 'p', regex, ip_group: 'ip', severity: 1, description: '', enabled: true, raw: false };
}

function compiles(source: string): RegExp | null {
  try {
    return new RegExp(source);
  } catch {
    return null;
  }
}

test('a regex without its group names matches alike, each name at the number it had', () => {
  fc.assert(
    fc.property(named, text, (source, s) => {
      const re = compiles(source);
      if (re === null) return; // a name used twice
      const un = unnamedSource(source);
      assert.ok(un !== null);
      const plain = new RegExp(un.source);
      const a = re.exec(s);
      const b = plain.exec(s);
      assert.equal(b?.groups, undefined);
      if (a === null) return assert.equal(b, null);
      assert.ok(b !== null);
      assert.deepEqual([...b], [...a]);
      for (const [name, at] of un.index)
        assert.equal(a.groups?.[name], b[at], `${name} at ${at} in ${source}`);
      assert.equal(un.index.size, Object.keys(a.groups ?? {}).length);
    }),
    RUN,
  );
});

test('backreferences by name become numbers; one to a later group keeps the names', () => {
  const un = unnamedSource('(?<a>x)-\\k<a>');
  assert.deepEqual(un && [un.source, [...un.index]], ['(x)-(?:\\1)', [['a', 1]]]);
  assert.equal(unnamedSource('\\k<a>(?<a>x)'), null);
  // the compiled pattern runs the unnamed form, and still finds the address by its name
  const p = compilePattern(specOf('from (?P<ip>[0-9.]+) user (?P<user>\\w+)'), 0);
  const m = p.exec.exec('from 192.0.2.1 user bob');
  assert.equal(m?.groups, undefined);
  assert.equal(m?.[p.ipIndex], '192.0.2.1');
});

test('consecutive versions run regexes of different sources that match alike', () => {
  const spec = specOf('^sshd: Failed \\w+ for (?P<user>\\S+) from (?P<ip>[0-9.]+)|^x (?P<ip_1>[0-9.]+)');
  const line = 'sshd: Failed password for root from 192.0.2.9 port 22';
  const seen = new Set<string>();
  for (const v of [1, 2, 3, 4]) {
    const p = compilePattern(spec, 0, v);
    seen.add(p.exec.source);
    const m = p.exec.exec(line);
    assert.equal(m?.[p.ipIndex], '192.0.2.9');
    assert.equal(p.exec.exec('x 198.51.100.1')?.[p.ipMore?.[0] ?? -1], '198.51.100.1');
    assert.equal(p.exec.exec('sshd: Failed password for root'), null);
  }
  // versions 1, 2 and 3 differ from each other; 4 is 1 again, never beside it
  assert.equal(seen.size, 3);
});

test('a batch of the version before still resolves after the newer one ran', () => {
  const spec = specOf('from (?P<ip>[0-9.]+)');
  const m = new BatchMatcher();
  const run = (version: number, specs: PatternSpec[]) =>
    m.run({
      version,
      patterns: JSON.stringify({ version, specs, skip: [] }),
      buf: new TextEncoder().encode('from 192.0.2.1\nto 192.0.2.2'),
      count: 2,
      timeMs: 0,
      lineTime: false,
      maxLen: 0,
      budgetMs: 1000,
    }).matches;
  assert.equal(run(1, [spec]), 1);
  assert.equal(run(2, [spec, { ...spec, name: 'q', regex: 'to (?P<ip>[0-9.]+)' }]), 2);
  // in flight across the reload: compiled again from its own payload
  assert.equal(run(1, [spec]), 1);
  assert.equal(run(2, [spec, { ...spec, name: 'q', regex: 'to (?P<ip>[0-9.]+)' }]), 2);
});
