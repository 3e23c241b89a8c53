import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/main/config/load.js';
import { SCHEMA } from '../../src/main/config/schema.js';
import { tempDir } from '../helpers/tmp.js';

function load(yaml: string, env: Record<string, string> = {}) {
  const cwd = tempDir('edgeban-hmapcfg-');
  writeFileSync(join(cwd, 'config.yaml'), yaml);
  return loadConfig({ cwd, env, systemPaths: [] });
}

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    load(yaml, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('haproxy_map keys from the file and from FAIL2BAN_HAPROXY_MAP_* env vars', () => {
  const c = load('haproxy_map:\n  enabled: true\n  sockets: [unix:/run/haproxy/admin.sock]\n', {
    FAIL2BAN_HAPROXY_MAP_MAP: '/var/lib/haproxy/bans.map',
    FAIL2BAN_HAPROXY_MAP_RESYNC_INTERVAL: '10s',
  }).config.haproxy_map;
  assert.equal(c.enabled, true);
  assert.deepEqual(c.sockets, ['unix:/run/haproxy/admin.sock']);
  assert.equal(c.map, '/var/lib/haproxy/bans.map');
  assert.equal(c.resync_interval, 10_000);
  const e = load('{}', {
    FAIL2BAN_HAPROXY_MAP_ENABLED: 'true',
    FAIL2BAN_HAPROXY_MAP_SOCKETS: '127.0.0.1:9999,[::1]:9998,unix:/run/h.sock',
  }).config.haproxy_map;
  assert.deepEqual(e.sockets, ['127.0.0.1:9999', '[::1]:9998', 'unix:/run/h.sock']);
});

test('bad haproxy_map values are named, an unknown key has a hint, enabled needs a socket', () => {
  const p = problems(
    'haproxy_map:\n  enabled: true\n  sockets: ["unix:relative", "nohost"]\n  map: "a b.map"\n  socket: x\n',
  );
  assert.ok(
    p.some((l) => /haproxy_map\.sockets\[0\]: expected unix:\/absolute\/path or host:port/.test(l)),
    p.join('\n'),
  );
  assert.ok(
    p.some((l) => /haproxy_map\.map: expected an absolute path/.test(l)),
    p.join('\n'),
  );
  assert.ok(
    p.some((l) => /haproxy_map\.socket: unknown key.*did you mean haproxy_map\.sockets/.test(l)),
    p.join('\n'),
  );
  const none = problems('haproxy_map:\n  enabled: true\n');
  assert.ok(
    none.some((l) => /haproxy_map\.sockets: expected at least one runtime API socket/.test(l)),
    none.join('\n'),
  );
});

test('every haproxy_map key is documented in examples/config.yaml', () => {
  const text = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'config.yaml'), 'utf8');
  const section = text.slice(text.indexOf('\nhaproxy_map:'), text.indexOf('\nprometheus:'));
  for (const key of Object.keys(SCHEMA).filter((k) => k.startsWith('haproxy_map.')))
    assert.match(section, new RegExp(`\\n  ${key.split('.')[1]}: .*# `), `${key} missing`);
});
