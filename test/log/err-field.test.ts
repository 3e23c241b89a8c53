import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { asError, firstError } from '../../src/main/log/logger.js';
import { ROOT, sources } from '../helpers/sources.js';
import { memoryLogger } from '../ingest/harness.js';

describe('the err field of log lines', () => {
  test('pino writes an Error as type, message and stack; a thrown non-Error is wrapped', () => {
    const { log, lines } = memoryLogger();
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    log.warn({ err: asError(cause) }, 'down');
    log.warn({ err: asError('a string was thrown') }, 'odd');
    log.warn({ err: firstError(new AggregateError([cause, new Error('second')], '')) }, 'several');
    const [a, b, c] = lines.map((l) => l.err as Record<string, unknown>);
    assert.equal(a.type, 'Error');
    assert.equal(a.message, 'connect ECONNREFUSED 127.0.0.1:5432');
    assert.equal(a.code, 'ECONNREFUSED');
    assert.match(String(a.stack), /\n\s+at /);
    assert.equal(b.type, 'Error');
    assert.match(String(b.message), /^non-error thrown: a string was thrown$/);
    // an AggregateError (one try per address) is logged as its first error, which names the cause
    assert.equal(c.message, 'connect ECONNREFUSED 127.0.0.1:5432');
  });

  test('no log call in src/ passes a message or a string as err, and child loggers bind `subsystem`', () => {
    const stringErr = /\berr: (?:[\w.]+\.message\b|String\(|errText\(|`|'|\(err as Error\)\.message)/;
    const otherBinding = /\.child\(\{ (?!subsystem:)/;
    const bad: string[] = [];
    for (const f of sources(join(ROOT, 'src'))) {
      const lines = readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (stringErr.test(line) || otherBinding.test(line))
          bad.push(`${f.slice(ROOT.length + 1)}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(bad, []);
  });
});
