import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/main/config/load.js';
import { PrefixTooShortError } from '../../src/main/engine/errors.js';
import { FleetMessageError } from '../../src/main/fleet/messages.js';
import { DatabaseConfigError } from '../../src/main/store/connect.js';
import {
  DuplicatePatternError,
  LastPatternError,
  StoreDisabledError,
  StoreUnavailableError,
} from '../../src/main/store/errors.js';
import { DatabaseOpenError } from '../../src/main/store/open-hint.js';
import { BanConfigError } from '../../src/main/store/rows.js';
import { ERROR_CODES, isErrorCode, statusOf } from '../../src/shared/error-codes.js';
import { EdgebanError, InvalidAddressError } from '../../src/shared/errors.js';
import { PatternError } from '../../src/shared/patterns/errors.js';
import { ROOT, sources } from '../helpers/sources.js';
import { type HttpHarness, startHttp } from '../http/harness.js';

describe('error catalogue', () => {
  test('every code has an HTTP error status and a meaning, and is spelled E_UPPER', () => {
    const codes = Object.keys(ERROR_CODES);
    assert.ok(codes.length >= 20);
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^E_[A-Z0-9_]+$/);
      assert.ok(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599, code);
      assert.ok(e.meaning.length > 10, code);
    }
  });

  test('each code is declared once in the catalogue, and every code used in src/ is declared', () => {
    const catalogue = readFileSync(join(ROOT, 'src', 'shared', 'error-codes.ts'), 'utf8');
    const declared = [...catalogue.matchAll(/^\s+(E_[A-Z0-9_]+): \{/gm)].map((m) => m[1]);
    assert.deepEqual(declared.length, new Set(declared).size, 'a code is declared twice');
    assert.deepEqual(new Set(declared), new Set(Object.keys(ERROR_CODES)));
    const used = new Set<string>();
    for (const f of sources(join(ROOT, 'src'))) {
      if (f.endsWith('error-codes.ts')) continue;
      for (const m of readFileSync(f, 'utf8').matchAll(/'(E_[A-Z0-9_]+)'/g)) used.add(m[1]);
    }
    for (const code of used) assert.ok(isErrorCode(code), `${code} is used in src/ but not catalogued`);
    for (const code of declared) assert.ok(used.has(code), `${code} is catalogued but never used`);
  });

  test('error classes keep their stable codes, one code per class, status from the catalogue', () => {
    const errors: [EdgebanError, string][] = [
      [new InvalidAddressError('x', 'why'), 'E_INVALID_IP'],
      [new PrefixTooShortError('10.0.0.0/4', 4, 8, 4), 'E_PREFIX_TOO_SHORT'],
      [new PatternError('p', 'why'), 'E_PATTERN'],
      [new BanConfigError('default', 'why'), 'E_BAN_CONFIG'],
      [new ConfigError([]), 'E_CONFIG'],
      [new FleetMessageError('why'), 'E_FLEET_MESSAGE'],
      [new DuplicatePatternError('p'), 'E_DUPLICATE'],
      [new LastPatternError('p'), 'E_LAST_PATTERN'],
      [new StoreUnavailableError('x'), 'E_DB_UNAVAILABLE'],
      [new StoreDisabledError('x'), 'E_DB_DISABLED'],
      [new DatabaseOpenError('x'), 'E_DB_OPEN'],
      [new DatabaseConfigError('x'), 'E_DB_CONFIG'],
    ];
    const seen = new Map<string, string>();
    for (const [err, code] of errors) {
      assert.ok(err instanceof EdgebanError);
      assert.equal(err.code, code, err.name);
      assert.equal(err.statusCode, ERROR_CODES[err.code].status, err.name);
      assert.equal(seen.get(code), undefined, `${err.name} and ${seen.get(code)} share ${code}`);
      seen.set(code, err.name);
      // the status is not an own field: log lines carry the code, not a copy of the table
      assert.equal(Object.hasOwn(err, 'statusCode'), false);
    }
    assert.equal(new DuplicatePatternError('p').statusCode, 409);
    assert.equal(new StoreUnavailableError('x').statusCode, 503);
  });
});

describe('API error answers', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttp();
  });
  after(async () => h.close());

  test('every error answer is sent with the status its code carries in the catalogue', async () => {
    const calls: [Parameters<HttpHarness['call']>[0], string, Parameters<HttpHarness['call']>[2]][] = [
      ['POST', '/api/ban', { body: { ip_address: 'not-an-ip' } }],
      ['POST', '/api/ban', { body: { ip_address: '10.0.0.0/4' } }],
      ['POST', '/api/ban', { body: {} }],
      ['POST', '/api/whitelist', { body: { ip_address: '::/8' } }],
    ];
    const codes = new Set<string>();
    for (const [method, path, opts] of calls) {
      const r = await h.call(method, path, opts);
      const code = r.json.error;
      assert.ok(isErrorCode(code), `${method} ${path}: ${String(code)}`);
      assert.equal(r.status, statusOf(code), `${method} ${path} ${code}`);
      codes.add(code);
    }
    assert.deepEqual([...codes].sort(), ['E_INVALID_IP', 'E_PREFIX_TOO_SHORT', 'E_VALIDATION']);
  });
});
