import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPattern } from '../../src/main/config/schema.js';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import { compilePattern, type PatternSpec } from '../../src/shared/patterns/compile.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { LineMatcher, PatternSet } from '../../src/shared/patterns/set.js';
import { makeStore, sqliteBackend } from '../store/harness.js';

/** apache-auth's shape: written against the line without its `[Thu Jul 11 01:21:41 2013]` date. */
const apache: PatternSpec = {
  name: 'f2b-apache-1',
  regex: String.raw`^(?:\[\])?\s*\[error\] \[client (?<ip>[\d.]+)\] user \S* not found`,
  ip_group: 'ip',
  severity: 1,
  description: '',
  enabled: true,
  raw: false,
  datepattern: ['{DEFAULT}'],
};
const LINE = '[Thu Jul 11 01:21:41 2013] [error] [client 194.228.20.113] user dsfasdf not found: /';

/** The verdicts of a set on lines as a file source hands them over (one batch, in-thread). */
function run(specs: PatternSpec[], lines: string[]): number[] {
  const m = new BatchMatcher();
  const r = m.run({
    version: 1,
    patterns: JSON.stringify({ version: 1, specs, skip: [] }),
    buf: new TextEncoder().encode(lines.join('\n')),
    count: lines.length,
    maxLen: 0,
    timeMs: Date.now(),
    lineTime: false,
    budgetMs: 1000,
  });
  const out = new Array<number>(lines.length).fill(-1);
  for (let k = 0; k < r.matches; k++) {
    const o = k * 32;
    const line = r.records[o + 20] | (r.records[o + 21] << 8) | (r.records[o + 22] << 16);
    out[line] = r.records[o] | (r.records[o + 1] << 8);
  }
  return out;
}

test("a pattern with a datepattern matches a log file's line with its date cut out, as fail2ban does", () => {
  assert.deepEqual(run([apache], [LINE]), [0]);
  // without it the line is matched whole, and the date is in the way
  const { datepattern: _d, ...bare } = apache;
  assert.deepEqual(run([bare], [LINE]), [-1]);
  // a syslog line: the pattern sees `host tag[pid]: message` (the line without <PRI> and date)
  const sshd: PatternSpec = {
    ...apache,
    name: 'f2b-sshd-1',
    regex: String.raw`^\s*(?:\S+\s+)?sshd\[\d+\]: Failed password for \S+ from (?<ip>[\d.]+)`,
    datepattern: ['{^LN-BEG}'],
  };
  assert.deepEqual(
    run(
      [sshd],
      [
        '<38>Aug 4 16:47:52 host sshd[1]: Failed password for root from 192.0.2.7 port 22 ssh2',
        'Aug 14 16:47:52 2005 host sshd[1]: Failed password for root from 192.0.2.8 port 22 ssh2',
        '2005-08-14T16:47:52+02:00 host sshd[1]: Failed password for root from 192.0.2.9 port 22 ssh2',
      ],
    ),
    [0, 0, 0],
  );
});

test('the literal scan never rules out a pattern whose literal runs across the cut (before the date + after it)', () => {
  // the date sits between `[` and `]`: the cut text holds `[] [error]`, the line does not
  const across: PatternSpec = {
    ...apache,
    name: 'across',
    regex: String.raw`^\[\] \[error\] \[client (?<ip>[\d.]+)\]`,
    datepattern: ['^\\[({DATE})'],
  };
  const filler = Array.from({ length: 40 }, (_, i) => ({
    ...apache,
    name: `filler-${i}`,
    regex: String.raw`^never-${i}-matches (?<ip>[\d.]+)`,
  }));
  const set = new PatternSet(1, [...filler, across]);
  const on = new LineMatcher(set);
  assert.ok(on.prefiltered >= 40, `${on.prefiltered} patterns filtered`);
  const line = '[Thu Jul 11 01:21:41 2013] [error] [client 194.228.20.113] AH01618: user x not found';
  assert.equal(on.match(line, line, undefined, line), 40);
  const off = new LineMatcher(set);
  off.usePrefilter = false;
  assert.equal(off.match(line, line, undefined, line), 40);
});

test('datepattern is bounded and checked: a bad template is an error naming the field', () => {
  assert.throws(
    () => compilePattern({ ...apache, datepattern: ['%Y-(unclosed'] }, 0),
    (e: unknown) => e instanceof PatternError && /invalid datepattern/.test(e.message),
  );
  const many = checkPattern({ ...apache, datepattern: Array.from({ length: 17 }, () => '{DEFAULT}') });
  assert.equal(many.problems[0]?.field, 'datepattern');
  const bad = checkPattern({ ...apache, datepattern: ['%Y-(unclosed'] });
  assert.equal(bad.problems[0]?.field, 'datepattern');
  const good = checkPattern({ ...apache, datepattern: ['{^LN-BEG}', '%Y-%m-%d %H:%M:%S'] });
  assert.deepEqual(good.problems, []);
  assert.deepEqual(good.value?.datepattern, ['{^LN-BEG}', '%Y-%m-%d %H:%M:%S']);
});

test('datepattern is kept by the store (patterns.datepattern) and comes back to the matcher', async () => {
  const be = sqliteBackend();
  try {
    const dsn = await be.fresh();
    const { store } = makeStore(be.driver, dsn);
    await store.start();
    const { name, regex, severity, description, enabled, raw } = apache;
    await store.createPattern({
      name,
      regex,
      ip_group: 1,
      severity,
      description,
      enabled,
      raw,
      datepattern: ['{DEFAULT}'],
    });
    const row = (await store.listPatterns()).find((p) => p.name === name);
    assert.deepEqual(row?.datepattern, ['{DEFAULT}']);
    await store.stop();
    // a column that is not a JSON list is refused, naming the field
    await be.exec(dsn, "UPDATE patterns SET datepattern = 'not json' WHERE name = ?", [name]);
    const again = makeStore(be.driver, dsn);
    await again.store.start();
    const bad = (await again.store.listPatterns()).find((p) => p.name === name);
    assert.equal(bad?.datepatternInvalid, 'not json');
    await again.store.stop();
  } finally {
    await be.close();
  }
});

/** A batch of `lines` through patterns `^needle-<i> …` whose datepattern is `template`. */
function slowTask(template: string, lines: string[]) {
  const slow = Array.from({ length: 8 }, (_, i) => ({
    ...apache,
    name: `slow-${i}`,
    regex: String.raw`^needle-${i} (?<ip>[\d.]+)`,
    datepattern: [template],
  }));
  return {
    version: 1,
    patterns: JSON.stringify({ version: 1, specs: slow, skip: [] }),
    buf: new TextEncoder().encode(lines.join('\n')),
    count: lines.length,
    maxLen: 0,
    timeMs: Date.now(),
    lineTime: false,
    budgetMs: 10,
  };
}

test('a slow datepattern is timed with its pattern, so the time budget can quarantine it', () => {
  // catastrophic on `aaaa…a?`; the literal scan rules every pattern out, and the cut that proves
  // it may (text may stand before this date, so the cut may join) is where the time goes
  const m = new BatchMatcher();
  const task = slowTask('(a+)+!', [`${'a'.repeat(22)}?`, `${'a'.repeat(22)}?`]);
  // the first batch blows the budget, the next one is profiled and names the culprit
  const first = m.run(task);
  assert.ok(first.elapsedMs > task.budgetMs, `${first.elapsedMs} ms: the template is not slow here`);
  assert.deepEqual(m.run(task).slow, [0]);
});

test('a slow anchored datepattern is timed with the pattern the literal scan lets through', () => {
  // nothing stands before a `^(…)` date: the patterns ruled out need no cut (it cannot join), the one whose
  // literal is in the line does, and the cut is timed with it
  const m = new BatchMatcher();
  const line = `${'a'.repeat(22)}? needle-3 192.0.2.1`;
  const task = slowTask('^((a+)+!)', [line, line]);
  const first = m.run(task);
  assert.ok(first.elapsedMs > task.budgetMs, `${first.elapsedMs} ms: the template is not slow here`);
  assert.deepEqual(m.run(task).slow, [3]);
});
