import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FAMILY_INVALID, formatIp, parseIpInto } from '../../src/shared/ip/parse.js';
import { compilePattern, type PatternSpec } from '../../src/shared/patterns/compile.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { LineMatcher, PatternSet } from '../../src/shared/patterns/set.js';
import { translatePattern } from '../../src/shared/patterns/translate.js';

const RUN = { seed: 0x5eed, numRuns: 2000, interruptAfterTimeLimit: 4000 };

/** Regex pieces of the subset JS and RE2 read alike (no letters, so case folding is moot too). */
const atom = fc.constantFrom('1', '2', ':', '.', ' ', '-', '\\d', '[0-9]', '[^ ]', '.', '\\.', '[.:]', '=');
const piece: fc.Arbitrary<string> = fc.letrec<{ seq: string; item: string }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.tuple(atom, fc.constantFrom('*', '+', '?', '{1,3}', '*?')).map(([a, q]) => a + q),
    tie('seq').map((s) => `(?:${s})`),
    fc.tuple(tie('seq'), tie('seq')).map(([a, b]) => `(?:${a}|${b})`),
  ),
  seq: fc.array(tie('item'), { maxLength: 4 }).map((a) => a.join('')),
})).seq;

/** Letters too, for the case-insensitive model. */
const letters = fc.array(fc.constantFrom('a', 'B', 'x', 'Z', '[a-c]', '[X-Z]', '[^q]', '1', ' '), {
  maxLength: 6,
});

const IP_GROUP = '(?P<ip>[0-9A-Fa-f:.]*[0-9A-Fa-f])';
const addrText = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.')),
  fc.constantFrom('2001:db8::1', '::ffff:192.0.2.1', '1.2.3', '999.1.1.1', 'fe80::', ':::', 'abc', '1:2'),
);
const lineText = fc
  .array(
    fc.oneof(addrText, fc.constantFrom(' ', ':', '.', '=', 'from ', 'ip='), fc.string({ maxLength: 4 })),
    {
      maxLength: 8,
    },
  )
  .map((a) => a.join(''));

const spec = (regex: string, ip_group: number | string = 0): PatternSpec => ({
  name: 'p',
  regex,
  ip_group,
  severity: 1,
  description: '',
  enabled: true,
  raw: false,
});

describe('pattern translation and compilation (properties)', () => {
  test('any input either compiles or throws PatternError, nothing else', () => {
    const garbage = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .array(
          fc.constantFrom(
            '(',
            ')',
            '(?',
            '(?P<',
            '(?<',
            '>',
            '[',
            ']',
            '\\',
            '{',
            '}',
            '*',
            '+',
            '?',
            '|',
            '^',
            '$',
            '(?i)',
            '\\A',
            '\\z',
            '\\Q',
            'a',
            '1',
            ',',
            'ip',
            '\\k<',
            '\\p{',
          ),
          { maxLength: 14 },
        )
        .map((a) => a.join('')),
    );
    fc.assert(
      fc.property(garbage, fc.oneof(fc.nat(4), fc.constantFrom('ip', 'x')), (regex, g) => {
        try {
          translatePattern('p', regex);
          compilePattern(spec(regex, g), 0);
        } catch (err) {
          assert.ok(
            err instanceof PatternError,
            `${regex}: ${(err as Error).name} ${(err as Error).message}`,
          );
        }
      }),
      RUN,
    );
  });

  test('in the common subset the translation is the identity and matches like the JS RegExp', () => {
    fc.assert(
      fc.property(piece, lineText, (src, line) => {
        const t = translatePattern('p', src);
        assert.equal(t.source, src);
        assert.equal(t.flags, '');
        const re = compilePattern(spec(src), 0).re;
        assert.equal(re.exec(line)?.[0], new RegExp(src).exec(line)?.[0]);
      }),
      RUN,
    );
  });

  test('(?i) matches like the JS `i` flag; \\A and \\z like ^ and $', () => {
    fc.assert(
      fc.property(letters, fc.string({ maxLength: 10 }), fc.boolean(), (parts, line, anchored) => {
        const body = parts.join('');
        const re = compilePattern(spec(anchored ? `(?i)\\A${body}\\z` : `(?i)${body}`), 0).re;
        const model = new RegExp(anchored ? `^${body}$` : body, 'i');
        const ascii = line.replace(/[^\x20-\x7e]/g, 'q');
        assert.equal(re.exec(ascii)?.[0], model.exec(ascii)?.[0], `${body} on ${ascii}`);
      }),
      RUN,
    );
  });

  test('the address a compiled pattern yields is valid and literally in the line', () => {
    const withIp = fc
      .tuple(piece, piece, fc.boolean())
      .map(([a, b, named]) => ({ regex: `${a}${named ? IP_GROUP : `(${IP_GROUP.slice(7)}`}${b}`, named }));
    fc.assert(
      fc.property(withIp, lineText, ({ regex, named }, line) => {
        const set = new PatternSet(1, [spec(regex, named ? 'ip' : 1)]);
        const m = new LineMatcher(set);
        if (m.match(line, line) < 0) return;
        // not a session pattern: a match always names an address
        assert.notEqual(m.family, 0);
        const got = formatIp(m.addr, m.family as 4 | 6);
        // some substring of the line is an address whose canonical form is what was yielded
        const ex = set.patterns[0].re.exec(line);
        assert.ok(ex);
        const cap = (named ? ex.groups?.ip : ex[1]) ?? '';
        assert.ok(line.includes(cap), `${cap} not in ${line}`);
        const b = new Uint8Array(16);
        const fam = parseIpInto(cap.trim(), b);
        assert.notEqual(fam, FAMILY_INVALID, cap);
        assert.equal(formatIp(b, fam as 4 | 6), got);
      }),
      RUN,
    );
  });
});
