import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import * as yaml from 'js-yaml';
import { ConfigError, loadConfig } from '../../src/main/config/load.js';
import { PATTERN_FIELDS, SCHEMA } from '../../src/main/config/schema.js';
import { tempDir } from '../helpers/tmp.js';

const KEYS = Object.keys(SCHEMA);
const dir = tempDir('edgeban-cfg-fuzz-');
const file = join(dir, 'config.yaml');

/** Any value a YAML document can hold, a few levels deep. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 20 }),
    fc.constantFrom(
      '5m',
      '-1s',
      '1h30m',
      '0',
      '127.0.0.1',
      '10.0.0.0/33',
      '::1/128',
      'udp',
      '(unclosed',
      ':',
    ),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** A key of the schema, sometimes with a typo or a change of case. */
const keyPath = fc.oneof(
  fc.constantFrom(...KEYS),
  fc.tuple(fc.constantFrom(...KEYS), fc.nat(), fc.string({ minLength: 1, maxLength: 2 })).map(([k, i, s]) => {
    const at = i % (k.length + 1);
    return k.slice(0, at) + s + k.slice(at + 1);
  }),
  fc.constantFrom(...KEYS).map((k) => k.toUpperCase()),
  fc.string({ minLength: 1, maxLength: 12 }),
);

const pattern = fc.dictionary(
  fc.oneof(fc.constantFrom(...PATTERN_FIELDS), fc.string({ minLength: 1, maxLength: 8 })),
  fc.oneof(anyValue, fc.constantFrom('x ([0-9.]+)', '(?P<ip>\\S+)', 'a(b', '(a+)+$')),
  { maxKeys: 7 },
);

/** A document built from the schema's keys with values of any type. */
const document = fc
  .array(
    fc.tuple(
      keyPath,
      fc.oneof(
        anyValue,
        fc.array(pattern, { maxLength: 3 }),
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      ),
    ),
    { maxLength: 12 },
  )
  .map((pairs) => {
    const root: Record<string, unknown> = {};
    for (const [k, v] of pairs) {
      const parts = k.split('.').filter((p) => p !== '');
      if (parts.length === 0) continue;
      let o = root;
      for (const p of parts.slice(0, -1)) {
        const next = Object.hasOwn(o, p) ? o[p] : undefined;
        if (typeof next !== 'object' || next === null || Array.isArray(next)) {
          o[p] = {};
        }
        o = o[p] as Record<string, unknown>;
      }
      o[parts[parts.length - 1]] = v;
    }
    return root;
  });

/** Loads `text` as the config file; returns the problems, or null when it is valid. */
function load(text: string): ConfigError | null {
  writeFileSync(file, text);
  try {
    loadConfig({ path: file, env: {}, systemPaths: [] });
    return null;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err;
  }
}

function assertPlaced(err: ConfigError | null, text: string): void {
  if (err === null) return;
  assert.ok(err.problems.length > 0);
  for (const p of err.problems) {
    assert.ok(p.key !== '', `a problem without a key in:\n${text}`);
    assert.equal(p.source, file);
    assert.ok(p.line !== undefined && p.line >= 1, `${p.key} has no line in:\n${text}\n${err.message}`);
  }
}

test('fuzz: documents of schema keys with any values: only ConfigError, each problem with key and line', () => {
  fc.assert(
    fc.property(document, (doc) => {
      const text = yaml.dump(doc, { lineWidth: -1 });
      assertPlaced(load(text), text);
    }),
    { seed: 0x5eed, numRuns: 2000, interruptAfterTimeLimit: 4000 },
  );
});

test('fuzz: garbage text never throws anything but ConfigError', () => {
  const garbage = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'grapheme', maxLength: 100 }),
    fc
      .array(
        fc.constantFrom(
          'spoa:',
          '  port:',
          ' - ',
          '[',
          ']',
          '{',
          '}',
          '&a',
          '*a',
          '!!str',
          '|',
          '\n',
          '  ',
          ':',
          '#',
          '"',
          "'",
          '? ',
          '%YAML',
          '---',
          '<<: *a',
        ),
        { maxLength: 40 },
      )
      .map((xs) => xs.join('')),
  );
  fc.assert(
    fc.property(garbage, (text) => {
      load(text);
    }),
    { seed: 0x5eed, numRuns: 2000, interruptAfterTimeLimit: 4000 },
  );
});
