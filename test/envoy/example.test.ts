import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as yaml from 'js-yaml';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { AUTH_SERVICE } from '../../src/main/envoy/proto.js';
import { findBinary } from '../helpers/peers.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'examples', 'envoy');

/** Every value under `key` anywhere in `v`. */
function all(v: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) all(x, key, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === key) out.push(x);
      all(x, key, out);
    }
  }
  return out;
}

test('examples/envoy/envoy.yaml: filters point at a cluster that exists and is health-checked on edgeban', () => {
  const doc = yaml.load(readFileSync(join(dir, 'envoy.yaml'), 'utf8')) as {
    static_resources: { clusters: { name: string; health_checks?: unknown[] }[] };
  };
  const clusters = new Map(doc.static_resources.clusters.map((c) => [c.name, c]));
  const authz = all(doc, 'envoy_grpc') as { cluster_name: string }[];
  assert.equal(authz.length, 2, 'the HTTP filter and the network filter');
  for (const a of authz) assert.ok(clusters.has(a.cluster_name), a.cluster_name);
  const types = all(doc, '@type') as string[];
  assert.ok(types.includes('type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz'));
  assert.ok(types.includes('type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz'));
  const edgeban = clusters.get(authz[0].cluster_name);
  assert.ok(all(edgeban, 'http2_protocol_options').length === 1, 'gRPC needs HTTP/2');
  assert.deepEqual(
    all(edgeban, 'grpc_health_check').map((h) => (h as { service_name: string }).service_name),
    [AUTH_SERVICE],
  );
  assert.ok((all(edgeban, 'port_value') as number[]).includes(defaultConfig().envoy.port));
  assert.ok(all(doc, 'failure_mode_allow').length >= 2);
});

test('examples/envoy/envoy-http-service.yaml: HTTP-service mode asks /auth on the nginx port', () => {
  const doc = yaml.load(readFileSync(join(dir, 'envoy-http-service.yaml'), 'utf8'));
  assert.deepEqual(all(doc, 'path_prefix'), ['/auth']);
  const uri = (all(doc, 'uri') as string[])[0];
  assert.equal(new URL(uri).port, String(defaultConfig().nginx.port));
  const ports = all(doc, 'port_value') as number[];
  assert.ok(ports.includes(defaultConfig().nginx.port));
});

test('envoy itself', {
  skip: findBinary('envoy') ? false : 'no envoy binary (not packaged in Debian 12)',
}, () => {
  // when an envoy binary is present, let it validate the example
  const r = spawnSync('envoy', ['--mode', 'validate', '-c', join(dir, 'envoy.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
