import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readFilter } from '../../src/main/fail2ban/filter.js';
import { filterPatterns } from '../../src/main/fail2ban/import.js';
import { classRun, hasRun } from '../../src/shared/fail2ban/class-runs.js';
import {
  type DateState,
  type DateTemplate,
  findDate,
  LEAD_ANY,
  LEAD_NONE,
  LEAD_NONWORD,
  leadOf,
  templatesFor,
} from '../../src/shared/fail2ban/dates.js';
import { firstAt, firstCharsAt } from '../../src/shared/fail2ban/first-chars.js';
import { LineDates, needsBracket } from '../../src/shared/fail2ban/line-dates.js';
import { PatternSet } from '../../src/shared/patterns/set.js';
import { filtersWithSamples, sampleLogLines } from '../fail2ban/parity.js';
import { compiled, smallRegexes } from './regex-arbitrary.js';

/** The template lists of the imported Debian filters, and fail2ban's defaults, once each. */
function templateLists(): DateTemplate[][] {
  const lists = new Map<string, DateTemplate[]>();
  for (const f of filtersWithSamples()) {
    try {
      const set = new PatternSet(1, filterPatterns(readFilter('/etc/fail2ban', f), `f2b-${f}`).patterns);
      for (const p of set.patterns)
        if (p.dates !== null && p.datesKey !== null) lists.set(p.datesKey, [...p.dates]);
    } catch {
      // filters that do not import are the importer's report, not this test's
    }
  }
  lists.set('default', templatesFor(null));
  lists.set('ln-beg', templatesFor(['{^LN-BEG}']));
  return [...lists.values()];
}

const sampleLines = sampleLogLines;

const lists = templateLists();
const lines = sampleLines();

/**
 * Runs both date finders over `seq` in order (their hint carries from line to line) and
 * asserts the same span for every list on every line.
 */
function agree(seq: readonly string[]): void {
  const ld = new LineDates();
  const dl = lists.map((ts) => ld.list(ts));
  const last = new Int32Array(lists.length * 3).fill(-1);
  const states: DateState[] = lists.map(() => ({
    last: -1,
    at: -1,
    end: -1,
    text: '',
    template: -1,
    timeMs: 0,
  }));
  for (const line of seq) {
    ld.reset(line);
    for (let k = 0; k < lists.length; k++) {
      const want = findDate(lists[k], line, Number.NaN, states[k]);
      const found = ld.find(dl[k], last, k);
      const got = found ? `${ld.start}-${ld.end}` : 'none';
      assert.equal(got, want === null ? 'none' : `${want.start}-${want.end}`, `list ${k}: ${line}`);
    }
  }
}

test("shared, pre-checked date search finds findDate's span on every sample line", () => {
  assert.ok(lists.length > 15 && lines.length > 1000, `${lists.length} lists, ${lines.length} lines`);
  agree(lines);
});

test('shared, pre-checked date search agrees with findDate on mutated lines', () => {
  const real = fc.constantFrom(...lines);
  // a few characters changed or put before the line: the pre-checks look at its first ones
  const mutated = fc
    .tuple(
      real,
      fc.nat(),
      fc.nat(8),
      fc.string({
        unit: fc.constantFrom('[', ']', ' ', '<', '@', 'a', 'J', '1', '2', ':', '-', '/', 'é'),
        maxLength: 4,
      }),
    )
    .map(([l, a, b, ins]) => {
      const i = a % Math.min(l.length + 1, 40);
      return l.slice(0, i) + ins + l.slice(i + b);
    });
  fc.assert(
    fc.property(fc.array(fc.oneof(mutated, real), { minLength: 1, maxLength: 6 }), (seq) => agree(seq)),
    { numRuns: 3000 },
  );
});

test('what stands before a date: read off the template, unsure forms are LEAD_ANY', () => {
  const lead = (src: string) => leadOf({ name: src, kind: 'pattern', re: new RegExp(src), anchored: true });
  assert.equal(lead(String.raw`^(\d+)`), LEAD_NONE);
  assert.equal(lead(String.raw`^(?:\W{0,2})?(\d+)(?=\b|\W|$)`), LEAD_NONWORD);
  // a repeated group's text is its last repetition's, which may come after other text
  assert.equal(lead('^(ab|c)+'), LEAD_ANY);
  // a top-level `|` lets a branch match anywhere
  assert.equal(lead(String.raw`^(\d+)|x(\d+)`), LEAD_ANY);
  assert.equal(lead(String.raw`^[^\[]*\[(\d+)`), LEAD_ANY);
  assert.equal(lead(String.raw`(?=^|\b|\W)(\d+)`), LEAD_ANY);
});

test('a bracket form needs a `[` only where no branch goes without it', () => {
  const t = (src: string): DateTemplate => ({
    name: src,
    kind: 'pattern',
    re: new RegExp(src),
    anchored: true,
  });
  assert.equal(needsBracket(t(String.raw`^[^\[]*\[(\d+)`)), true);
  assert.equal(needsBracket(t(String.raw`^[^\[]*(\[\d+\])`)), true);
  assert.equal(needsBracket(t(String.raw`^[^\[]*(\[\d+|x)`)), false);
  assert.equal(needsBracket(t(String.raw`^[^\[]*\[(\d+)|x`)), false);
  assert.equal(needsBracket(t(String.raw`^(?:\W{0,2})?(\d+)`)), false);
});

/** Small regexes in the templates' dialect over a tiny alphabet, so random texts match them. */
const seq = smallRegexes({
  leaves: ['a', 'B', '1', ' ', '-', '\\d', '\\W', '\\s', '[a1]', '[0-2]', '[^a]', '.', '\\b', '$', '\\-'],
  groups: ['(', '(?:', '(?<n>', '(?=', '(?!', '(?<=', '(?<!'],
  quantifiers: ['?', '*', '+', '{0,2}', '{2}', '{1,}', '??'],
  bare: ['\\b', '$'],
  maxSeq: 5,
});

test('a first-character table holds the first character of every match', () => {
  const text = fc.string({
    unit: fc.constantFrom('a', 'A', 'b', 'B', '1', '3', ' ', '-', '_', 'é'),
    maxLength: 8,
  });
  fc.assert(
    fc.property(
      seq(3),
      fc.constantFrom('', 'i'),
      fc.array(text, { minLength: 20, maxLength: 20 }),
      (src, flags, texts) => {
        const re = compiled(`^${src}`, flags);
        if (re === null) return;
        const table = firstCharsAt(re, 1);
        if (table === null) return;
        for (const t of texts)
          if (re.test(t)) assert.ok(firstAt(table, t, 0), `/^${src}/${flags} matches ${JSON.stringify(t)}`);
      },
    ),
    { numRuns: 20_000 },
  );
});

test('a class run is in every text the regex matches', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'A', 'B', '1', ' ', '-', '_', 'é'), maxLength: 10 });
  let runs = 0;
  fc.assert(
    fc.property(
      seq(3),
      fc.constantFrom('', 'i'),
      fc.array(text, { minLength: 30, maxLength: 30 }),
      (src, flags, texts) => {
        const re = compiled(src, flags);
        if (re === null) return;
        const run = classRun(re);
        if (run === null) return;
        runs++;
        // the indexOf shortcut finds what a check of every position finds
        const every = (t: string) => {
          for (let p = 0; p + run.classes.length <= t.length; p++)
            if (run.classes.every((c, k) => c[Math.min(t.charCodeAt(p + k), 128)] === 1)) return true;
          return false;
        };
        for (const t of texts) assert.equal(hasRun(run, t), every(t), `${run.key} in ${JSON.stringify(t)}`);
        for (const t of texts)
          if (re.test(t)) assert.ok(hasRun(run, t), `/${src}/${flags} matches ${JSON.stringify(t)}`);
      },
    ),
    { numRuns: 20_000 },
  );
  assert.ok(runs > 2000, `${runs} regexes with a run`);
});

test("the unanchored default templates' runs: a year, a month name, ten digits", () => {
  const run = (src: string) => {
    const r = classRun(new RegExp(src, 'i'));
    return r === null ? null : r.classes.length;
  };
  assert.equal(run(String.raw`(?=^|\b|\W)((?<Y>20[0-2]\d)(?<_sep>[-/.])(?<m>0?[1-9]|1[0-2])\k<_sep>)`), 5);
  assert.equal(run(String.raw`((?:(?<a>mon|tue) )?(?<b>jan|feb|mar) (?<d>[1-2]\d|[0 ]?[1-9]))`), 4);
  assert.equal(run(String.raw`(\d{10,11}\b(?:\.\d{3,6})?)`), 10);
  // a run inside an optional group or one branch of several is not mandatory
  assert.equal(run('(?:abcdef)?x|y'), null);
  assert.equal(run('(?:abcdef|x)'), null);
});
