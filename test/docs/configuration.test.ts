import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { ConfigError, fromObject, loadConfig } from '../../src/main/config/load.js';
import { SCHEMA } from '../../src/main/config/schema.js';
import { CONFIG_DOC, configTable, envName, tableInDoc } from './config-table.js';

const doc = readFileSync(CONFIG_DOC, 'utf8');
const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'config.yaml');

/** The rows of the page's table: key, default cell, environment cell. */
function rows(): { key: string; def: string; env: string }[] {
  const table = tableInDoc(doc) ?? '';
  return table
    .split('\n')
    .slice(2)
    .map((l) => {
      const [key, def, env] = l.split(' | ').map((c) => c.replace(/^\| /, ''));
      return { key: key.replace(/`/g, ''), def, env: env.replace(/`/g, '') };
    });
}

function valueAt(config: unknown, path: string): unknown {
  let v = config;
  for (const part of path.split('.')) v = (v as Record<string, unknown>)[part];
  return v;
}

test('docs/configuration.md lists every key of the schema, as the schema and the defaults say', () => {
  assert.notEqual(tableInDoc(doc), null, 'the page has its <!-- config-keys --> markers');
  assert.equal(tableInDoc(doc), configTable(), 'rerun: node dist/test/docs/config-table.js --write');
  assert.deepEqual(
    rows().map((r) => r.key),
    Object.keys(SCHEMA),
  );
});

test('each documented variable sets its key, and the documented default reads back as the default', () => {
  const defaults = defaultConfig();
  for (const { key, def, env } of rows()) {
    if (env === 'file only') continue;
    assert.equal(env, envName(key));
    const empty = ['`[]`', '`{}`', '`""`'].includes(def);
    // the default as an operator would type it into the variable: lists comma-separated
    const text = empty ? '' : def.replace(/`/g, '').replace(/, /g, ',');
    let warnings: string[];
    try {
      const loaded = fromObject({}, { path: null, env: { [env]: text } });
      warnings = loaded.warnings;
      if (!empty) assert.deepEqual(valueAt(loaded.config, key), valueAt(defaults, key), `${env}=${text}`);
    } catch (err) {
      // an empty value may be refused for some kinds, but the name must still be known
      if (!(err instanceof ConfigError) || !empty) throw err;
      warnings = err.warnings;
    }
    assert.ok(
      !warnings.some((w) => w.includes('matches no configuration key')),
      `${env} is not a known name`,
    );
  }
});

test('a misspelt variable is reported, so the check above can fail', () => {
  const { warnings } = fromObject({}, { path: null, env: { FAIL2BAN_SPOA_PORTT: '1' } });
  assert.ok(warnings.some((w) => w.includes('FAIL2BAN_SPOA_PORTT: matches no configuration key')));
});

test('examples/config.yaml, which the page points to, has every key, at its default', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  for (const key of Object.keys(SCHEMA)) {
    const leaf = key.split('.').at(-1) as string;
    assert.match(text, new RegExp(`^\\s*${leaf}:`, 'm'), `examples/config.yaml has ${key}`);
  }
  const loaded = loadConfig({ path: EXAMPLE, env: {} });
  assert.deepEqual(loaded.warnings, []);
  assert.deepEqual(loaded.config, defaultConfig());
});
