import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPattern } from '../../src/main/config/schema.js';
import { compilePattern, type PatternSpec } from '../../src/shared/patterns/compile.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { LineMatcher, PatternSet } from '../../src/shared/patterns/set.js';

const base: PatternSpec = {
  name: 'rc-login',
  regex: String.raw`^roundcube: Login failed for \S+ from (?<ip>\d+\.\d+\.\d+\.\d+)`,
  ip_group: 'ip',
  severity: 1,
  description: '',
  enabled: true,
  raw: false,
};

test('a line the pattern matches does not count when an ignoreregex matches it too; the next pattern still may', () => {
  const next: PatternSpec = { ...base, name: 'rc-any', regex: String.raw`from (?<ip>\d+\.\d+\.\d+\.\d+)` };
  const m = new LineMatcher(
    new PatternSet(1, [
      { ...base, ignoreregex: ['Could not connect to .* Connection refused', 'user=probe'] },
    ]),
  );
  assert.equal(m.match('roundcube: Login failed for a from 192.0.2.1. NO Login failed', ''), 0);
  assert.equal(
    m.match('roundcube: Login failed for a from 192.0.2.2. Could not connect to x: Connection refused', ''),
    -1,
  );
  assert.equal(m.match('roundcube: Login failed for a from 192.0.2.3 user=probe', ''), -1);
  // ignored for this pattern only: a later one (another filter) sees the line
  const two = new LineMatcher(new PatternSet(1, [{ ...base, ignoreregex: ['user=probe'] }, next]));
  assert.equal(two.match('roundcube: Login failed for a from 192.0.2.3 user=probe', ''), 1);
});

test('ignoreregex follows the regex rules: linear time unless backtracking, bounded, named in errors', () => {
  assert.throws(
    () => compilePattern({ ...base, ignoreregex: ['(?=x)y'] }, 0),
    (e: unknown) => e instanceof PatternError && /ignoreregex\[0\] cannot run in linear time/.test(e.message),
  );
  assert.ok(compilePattern({ ...base, backtracking: true, ignoreregex: ['(?=x)y'] }, 0).ignores);
  assert.throws(() => compilePattern({ ...base, ignoreregex: ['('] }, 0), /invalid ignoreregex\[0\]/);
  const many = checkPattern({ ...base, ignoreregex: Array.from({ length: 65 }, () => 'x') });
  assert.equal(many.problems[0]?.field, 'ignoreregex');
  const bad = checkPattern({ ...base, ignoreregex: ['ok', '(unclosed'] });
  assert.equal(bad.problems[0]?.field, 'ignoreregex');
  assert.match(bad.problems[0]?.found ?? '', /ignoreregex\[1\]/);
  const good = checkPattern({ ...base, ignoreregex: ['user=probe'] });
  assert.deepEqual(good.problems, []);
  assert.deepEqual(good.value?.ignoreregex, ['user=probe']);
});
