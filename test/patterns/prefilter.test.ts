import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readFilter } from '../../src/main/fail2ban/filter.js';
import { filterPatterns } from '../../src/main/fail2ban/import.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { requiredFactors } from '../../src/shared/patterns/literals.js';
import { LineMatcher, PatternSet } from '../../src/shared/patterns/set.js';
import { filtersWithSamples, sampleLogLines } from '../fail2ban/parity.js';
import { compiled, smallRegexes } from './regex-arbitrary.js';

function debianSpecs(): PatternSpec[] {
  const specs: PatternSpec[] = [];
  for (const f of filtersWithSamples()) {
    try {
      specs.push(...filterPatterns(readFilter('/etc/fail2ban', f), `f2b-${f}`).patterns);
    } catch {
      // filters that do not import are the importer's report, not this test's
    }
  }
  return specs;
}

const SYSLOG_HEAD = /^(?:\w{3} [ \d]\d|\d{4}-\d\d-\d\dT?) ?\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d)? \S+ /;

/** The sample lines, each also as the syslog parser hands it over: `tag: message`. */
function sampleLines(): string[] {
  const out: string[] = [];
  for (const l of sampleLogLines()) {
    out.push(l);
    // without time and host
    const body = SYSLOG_HEAD.exec(l);
    if (body !== null) out.push(l.slice(body[0].length));
  }
  return out;
}

/** The matcher's verdict on a line: pattern id and captured address, or -1. */
function verdict(m: LineMatcher, line: string): string {
  // as a file source hands the line over: fail2ban's patterns see it without its date
  const id = m.match(line, line, undefined, line);
  return id < 0 ? '-1' : `${id} ${m.family} ${m.addr.join('.')}`;
}

const set = new PatternSet(1, debianSpecs());
const on = new LineMatcher(set);
const off = new LineMatcher(set);
off.usePrefilter = false;
const lines = sampleLines();

test('the prefilter filters nearly every imported Debian pattern', () => {
  assert.ok(set.patterns.length > 150, `${set.patterns.length} patterns`);
  assert.ok(on.prefiltered >= set.patterns.length - 5, `${on.prefiltered} filtered`);
});

test("prefilter on and off agree on every line of fail2ban's sample logs", () => {
  let matched = 0;
  for (const l of lines) {
    const a = verdict(on, l);
    assert.equal(a, verdict(off, l), l);
    if (a !== '-1') matched++;
  }
  assert.ok(lines.length > 1500 && matched > 250, `${matched} of ${lines.length} matched`);
});

test('prefilter on and off agree on mutated and random lines', () => {
  const real = fc.constantFrom(...lines);
  const mutated = fc
    .tuple(real, fc.nat(), fc.nat(), fc.string({ maxLength: 12 }), fc.constantFrom('up', 'low', 'none'))
    .map(([l, a, b, ins, c]) => {
      const i = a % (l.length + 1);
      const j = i + (b % 8);
      const s = l.slice(0, i) + ins + l.slice(j);
      return c === 'up' ? s.toUpperCase() : c === 'low' ? s.toLowerCase() : s;
    });
  const spliced = fc
    .tuple(real, real, fc.nat())
    .map(([x, y, n]) => x.slice(0, n % x.length) + y.slice(n % y.length));
  fc.assert(
    fc.property(
      fc.oneof(
        mutated,
        spliced,
        fc.string({ maxLength: 200 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
      ),
      (l) => {
        assert.equal(verdict(on, l), verdict(off, l));
      },
    ),
    { numRuns: 20_000 },
  );
});

/** Small regexes over a tiny alphabet, so random texts often match them. */
const seq = smallRegexes({
  leaves: [
    'a',
    'b',
    'k',
    's',
    'A',
    'S',
    '.',
    '\\.',
    '[ab]',
    '[^a]',
    '\\w',
    '\\x61',
    '\\u0062',
    '^',
    '$',
    '\\b',
  ],
  groups: ['(', '(?:', '(?<n>', '(?=', '(?!', '(?<='],
  quantifiers: ['?', '*', '+', '{0,2}', '{2}', '{1,}', '??', '+?'],
  bare: ['^', '$', '\\b'],
  maxSeq: 6,
});

test('a text a regex matches holds a literal of each of its required factors', () => {
  const text = fc.string({
    unit: fc.constantFrom('a', 'b', 'k', 's', 'A', 'K', 'S', '.', ' ', '\u212a', '\u017f'),
    maxLength: 14,
  });
  fc.assert(
    fc.property(
      seq(3),
      fc.constantFrom('', 'i', 'u', 'iu', 's'),
      fc.array(text, { minLength: 20, maxLength: 20 }),
      (src, flags, texts) => {
        const re = compiled(src, flags);
        if (re === null) return;
        const factors = requiredFactors(src, flags);
        for (const t of texts) {
          if (!re.test(t)) continue;
          const low = t.toLowerCase();
          for (const lits of factors)
            assert.ok(
              lits.length > 0 && lits.some((l) => low.includes(l.toLowerCase())),
              `/${src}/${flags} matches ${JSON.stringify(t)} without any of ${JSON.stringify(lits)}`,
            );
        }
      },
    ),
    { numRuns: 20_000 },
  );
});
