import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  anchoredFirstChars,
  anchoredPrefix,
  compilePattern,
  type PatternSpec,
  requiredLiteral,
} from '../../src/shared/patterns/compile.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { translatePattern } from '../../src/shared/patterns/translate.js';
import { matchLines } from './helpers.js';

const spec = (regex: string, ip_group: number | string = 1, name = 'p'): PatternSpec => ({
  name,
  regex,
  ip_group,
  severity: 3,
  description: '',
  enabled: true,
  raw: false,
});

describe('pattern compilation', () => {
  test('Go-style (?P<name>…) groups work with a named ip_group', () => {
    const found = matchLines(
      [spec('Failed password .* from (?P<addr>[0-9.]+) port', 'addr')],
      ['sshd: Failed password for root from 10.1.2.3 port 22 ssh2'],
    );
    assert.deepEqual(
      found.map((f) => f.ip),
      ['10.1.2.3'],
    );
  });

  test('numbered ip_group, also given as a string, and 0 = whole match', () => {
    assert.equal(
      matchLines([spec('user (\\w+) from ([0-9.]+)', 2)], ['x: user bob from 10.0.0.9'])[0].ip,
      '10.0.0.9',
    );
    assert.equal(
      matchLines([spec('user (\\w+) from ([0-9.]+)', '2')], ['x: user bob from 10.0.0.9'])[0].ip,
      '10.0.0.9',
    );
    assert.equal(matchLines([spec('[0-9]+\\.[0-9.]+', 0)], ['x: hello 10.0.0.7 bye'])[0].ip, '10.0.0.7');
  });

  test('a leading (?i) makes the pattern case-insensitive without the i flag', () => {
    const t = translatePattern('p', '(?i)auth FAILED [a-c_]x\\d rip=(\\S+)');
    assert.equal(t.flags.includes('i'), false);
    assert.equal(t.caseInsensitive, true);
    const re = new RegExp(t.source, t.flags);
    assert.ok(re.test('AUTH failed Bx1 rip=1.2.3.4'));
    assert.ok(re.test('Auth Failed b_X9 rip=1.2.3.4') === false); // '_' then 'X' then digit: [a-c_] eats b, then x must follow
    assert.ok(re.test('auth failed _X9 rip=1.2.3.4'));
    const found = matchLines(
      [spec('(?i)DOVECOT: .*auth failed.*rip=([0-9a-f.:]+)')],
      ['dovecot: imap-login: Disconnected (AUTH FAILED, 1 attempts): rip=2001:DB8::1'],
    );
    assert.equal(found[0].ip, '2001:db8::1');
  });

  test('(?s) and (?m) become flags; (?is) combined', () => {
    assert.deepEqual(translatePattern('p', '(?is)a.b').flags, 's');
    assert.equal(translatePattern('p', '(?m)^a').flags, 'm');
  });

  test('the captured address is validated and canonicalised; v4-mapped is folded', () => {
    const p = [spec('from (\\S+)$')];
    assert.deepEqual(matchLines(p, ['x: from 300.1.1.1']), []);
    assert.equal(matchLines(p, ['x: from ::FFFF:10.0.0.1'])[0].ip, '10.0.0.1');
    assert.equal(matchLines(p, ['x: from 2001:0DB8:0000:0000:0000:0000:0000:0001'])[0].ip, '2001:db8::1');
    assert.deepEqual(matchLines(p, ['x: from fe80::1%eth0']), []);
  });

  test('first matching pattern wins: one line, one failure', () => {
    const found = matchLines(
      [spec('auth failed.*rip=([0-9.]+)', 1, 'a'), spec('rip=([0-9.]+)', 1, 'b')],
      ['dovecot: auth failed, rip=10.0.0.1', 'dovecot: other, rip=10.0.0.2'],
    );
    assert.deepEqual(
      found.map((f) => f.pattern),
      ['a', 'b'],
    );
  });

  test('a pattern whose address is invalid falls through to the next one', () => {
    const found = matchLines(
      [spec('user=(\\S+)', 1, 'a'), spec('rip=([0-9.]+)', 1, 'b')],
      ['x: user=bob rip=10.0.0.3'],
    );
    assert.deepEqual(
      found.map((f) => [f.pattern, f.ip]),
      [['b', '10.0.0.3']],
    );
  });

  test('raw patterns see the whole line, others see `tag: message`', () => {
    const line = '<34>Nov 24 16:05:41 mailhost dovecot[12]: auth failed, rip=10.0.0.4';
    assert.equal(matchLines([spec('^dovecot: auth failed, rip=([0-9.]+)$')], [line]).length, 1);
    assert.equal(
      matchLines([{ ...spec('^dovecot: auth failed, rip=([0-9.]+)$'), raw: true }], [line]).length,
      0,
    );
    assert.equal(
      matchLines([{ ...spec('^<34>.*mailhost dovecot\\[12\\].*rip=([0-9.]+)'), raw: true }], [line]).length,
      1,
    );
  });

  test('bad patterns are refused with an error naming them', () => {
    const cases: [PatternSpec, RegExp][] = [
      [spec('(a)\\1 from (\\S+)', 2, 'backref'), /pattern "backref": regex cannot run in linear time/],
      [spec('from (?=x)(\\S+)', 1, 'lookahead'), /pattern "lookahead": regex cannot run in linear time/],
      [spec('(?<=from )(\\S+)', 1, 'lookbehind'), /pattern "lookbehind": regex cannot run in linear time/],
      [spec('from ([0-9.]+', 1, 'broken'), /pattern "broken": invalid regex/],
      [
        spec('from ([0-9.]+)', 2, 'range'),
        /pattern "range": ip_group 2 is out of range: the regex has 1 capture/,
      ],
      [
        spec('from (?<ip>[0-9.]+)', 'addr', 'noname'),
        /pattern "noname": ip_group "addr" is not a named group/,
      ],
      [
        spec('a(?i)b (\\S+)', 1, 'midflag'),
        /pattern "midflag": inline flags are only supported at the very start/,
      ],
      [spec('x{1,100} (\\S+)', 1, 'bigcount'), /pattern "bigcount": regex cannot run in linear time/],
    ];
    for (const [s, msg] of cases) {
      assert.throws(
        () => compilePattern(s, 0),
        (err: unknown) => err instanceof PatternError && err.code === 'E_PATTERN' && msg.test(err.message),
        s.name,
      );
    }
  });

  test('required literal pre-check is conservative', () => {
    assert.equal(
      requiredLiteral('postfix/smtpd.*SASL.*authentication failed.*\\[([0-9.]+)\\]'),
      'authentication failed',
    );
    assert.equal(requiredLiteral('a|bcdef'), null);
    assert.equal(requiredLiteral('colou?r mismatch'), 'r mismatch');
    assert.equal(requiredLiteral('(?:foo|bar)xyzzy'), 'xyzzy');
    assert.equal(requiredLiteral('\\d\\d\\d'), null);
    assert.equal(anchoredPrefix('^postfix(?:/x)*/smtpd: '), 'postfix');
    assert.equal(anchoredPrefix('^dovecot: auth'), 'dovecot: auth');
    assert.equal(anchoredPrefix('^sshd\\[\\d'), 'sshd[');
    assert.equal(anchoredPrefix('^colou?r'), 'colo');
    assert.equal(anchoredPrefix('^(?:nginx: )?x'), null);
    assert.equal(anchoredPrefix('dovecot'), null);
  });

  test('first characters of an anchored pattern never leave out a possible match', () => {
    const chars = (src: string) => {
      const set = anchoredFirstChars(src);
      return set === null ? null : String.fromCharCode(...[...set].sort((a, b) => a - b));
    };
    assert.equal(chars('^(?:nginx: )?(?:\\d\\d\\d\\d\\/\\d\\d )?\\[(?:error|warn)\\]'), '0123456789[n');
    assert.equal(chars('^(?:a|b)?c'), 'abc');
    assert.equal(chars('^(?<x>q|r)+s'), 'qr');
    assert.equal(chars('^x{0,3}y'), 'xy');
    assert.equal(chars('^x{2}y'), 'x');
    assert.equal(chars('^\\bfoo'), 'f');
    // unknown or unanchored: null means "any"
    assert.equal(chars('^(?:x)*'), null, 'can match empty');
    assert.equal(chars('^\\w+'), null);
    assert.equal(chars('^[ab]c'), null);
    assert.equal(chars('^.x'), null);
    assert.equal(chars('^a|b'), null, 'top-level alternation leaves b unanchored');
    assert.equal(chars('^(?=a)a'), null, 'lookahead');
    assert.equal(chars('abc'), null);
    // every string a regex matches starts with one of the characters it reports
    const cases: [string, string[]][] = [
      ['^(?:nginx: )?(?:\\d+ )?\\[e\\]', ['nginx: [e]', '12 [e]', '[e]', 'nginx: 3 [e]']],
      ['^(?:(?:a|)b)?c', ['c', 'bc', 'abc']],
      ['^(?:x{0,2}|y)z', ['z', 'xz', 'xxz', 'yz']],
    ];
    for (const [src, inputs] of cases) {
      const set = anchoredFirstChars(src);
      assert.ok(set !== null, src);
      for (const input of inputs) {
        assert.ok(new RegExp(src).test(input), `${src} matches ${input}`);
        assert.ok(set.has(input.charCodeAt(0)), `${src}: ${input[0]} is a possible first character`);
      }
    }
  });
});

/** A regex source and a line it matches, built together. */
type Gen = { src: string; sample: string };
const atom: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom(...'abcxyz019,.: -'.split('')).map((ch) => ({
    src: /[.]/.test(ch) ? `\\${ch}` : ch,
    sample: ch,
  })),
  fc.constantFrom('a', 'q', 'z').map((ch) => ({ src: '[a-z]', sample: ch })),
  fc.constantFrom('0', '7').map((d) => ({ src: '\\d', sample: d })),
  fc.constant({ src: '\\x41', sample: 'A' }),
  fc.constant({ src: '\\u{42}', sample: 'B' }),
);
const ALL_QUANTIFIERS = ['', '?', '*', '+', '{2}', '{1,3}', '{0,2}', '{3,15}'];
/** Groups repeat at most a fixed number of times: nested open repeats backtrack exponentially. */
const GROUP_QUANTIFIERS = ['', '?', '{2}'];
const quantified = (g: fc.Arbitrary<Gen>, qs = ALL_QUANTIFIERS): fc.Arbitrary<Gen> =>
  fc.tuple(g, fc.constantFrom(...qs), fc.nat(3)).map(([a, q, k]) => {
    const min = q === '' || q === '+' ? 1 : q === '{2}' ? 2 : q === '{1,3}' ? 1 : q === '{3,15}' ? 3 : 0;
    const times = Math.max(
      min,
      q === ''
        ? 1
        : q === '{2}'
          ? 2
          : Math.min(min + k, q === '{1,3}' ? 3 : q === '{0,2}' || q === '?' ? min + (k & 1) : min + k),
    );
    return {
      src:
        a.src.length > 1 && !a.src.startsWith('[') && !a.src.startsWith('\\')
          ? `(?:${a.src})${q}`
          : `${a.src}${q}`,
      sample: a.sample.repeat(times),
    };
  });
const seqOf = (part: fc.Arbitrary<Gen>, maxLength: number): fc.Arbitrary<Gen> =>
  fc
    .array(part, { minLength: 1, maxLength })
    .map((parts) => ({ src: parts.map((p) => p.src).join(''), sample: parts.map((p) => p.sample).join('') }));
const inner = seqOf(quantified(atom), 5);
const alt: fc.Arbitrary<Gen> = fc.tuple(inner, inner, fc.boolean()).map(([a, b, first]) => ({
  src: `(?:${a.src}|${b.src})`,
  sample: first ? a.sample : b.sample,
}));
const regexGen = fc
  .tuple(
    seqOf(
      fc.oneof(
        { weight: 4, arbitrary: quantified(atom) },
        { weight: 1, arbitrary: quantified(alt, GROUP_QUANTIFIERS) },
      ),
      10,
    ),
    fc.boolean(),
  )
  // a backreference by name: its `<n>` is not text of the line
  .map(([g, br]) => (br ? { src: `${g.src}(?<n>q:)\\k<n>`, sample: `${g.sample}q:q:` } : g));

test('every line a regex matches contains its required literal (counted quantifiers are not text)', () => {
  assert.equal(requiredLiteral('[a-z\\-]{3,15}\\(\\S*'), null);
  assert.equal(requiredLiteral('\\d{1,3}\\.\\d{1,3} port'), ' port');
  assert.equal(requiredLiteral('(?<CODE>[A-F]+): error:\\k<CODE>:SSL routines'), ':SSL routines');
  fc.assert(
    fc.property(regexGen, ({ src, sample }) => {
      assert.ok(new RegExp(`^(?:${src})$`, 'u').test(sample), `${src} must match ${sample}`);
      const lit = requiredLiteral(src);
      if (lit !== null) assert.ok(sample.includes(lit), `${JSON.stringify(lit)} of ${src} not in ${sample}`);
    }),
    { numRuns: 2000 },
  );
});
