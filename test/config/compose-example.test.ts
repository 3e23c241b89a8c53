import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as yaml from 'js-yaml';
import { EDGEBAN_BIN } from '../helpers/edge.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const COMPOSE = join(ROOT, 'examples', 'compose');

interface ComposeService {
  build?: { context: string };
  image?: string;
  volumes?: string[];
  environment?: Record<string, string>;
  command?: string[];
}

function services(file: string): Record<string, ComposeService> {
  const doc = yaml.load(readFileSync(join(COMPOSE, file), 'utf8')) as {
    services: Record<string, ComposeService & { '<<'?: ComposeService }>;
  };
  // YAML merge keys (`<<: *edgeban`), as compose applies them
  const out: Record<string, ComposeService> = {};
  for (const [name, s] of Object.entries(doc.services)) {
    const { '<<': base, ...own } = s;
    out[name] = { ...(base ?? {}), ...own };
  }
  return out;
}

/** The process environment without anything that would change what check-config sees. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('FAIL2BAN_') && !k.startsWith('EDGEBAN_')) env[k] = v;
  // what the image sets (Dockerfile ENV)
  return { ...env, FAIL2BAN_SYSLOG_ADDRESS: '0.0.0.0:5514', FAIL2BAN_SYSLOG_PROTOCOL: 'both', ...extra };
}

for (const [file, edgebanConfig] of [
  ['compose.yaml', 'config.yaml'],
  ['compose.fleet.yaml', 'fleet.yaml'],
] as const) {
  test(`${file}: the edgeban config it mounts passes edgeban check-config, with each node's environment`, async () => {
    const svc = services(file);
    const nodes = Object.entries(svc).filter(([, s]) => s.image === 'edgeban:local');
    assert.ok(nodes.length >= 1);
    for (const [name, s] of nodes) {
      assert.equal(s.build?.context, '../..', `${name} builds the repository's Dockerfile`);
      const mount = (s.volumes ?? []).find((v) => v.endsWith(':/etc/edgeban/config.yaml:ro'));
      assert.ok(mount, `${name} mounts its config on the default search path`);
      assert.equal(mount.split(':')[0], `./edgeban/${edgebanConfig}`);
      // the same command the image runs, on the same file and variables; unknown keys are errors
      const r = await run(
        process.execPath,
        [EDGEBAN_BIN, 'check-config', '--config', join(COMPOSE, 'edgeban', edgebanConfig), '--json'],
        { env: cleanEnv(s.environment ?? {}), cwd: tempDir('edgeban-compose-') },
      );
      assert.match(r.stderr, /is valid/);
      assert.doesNotMatch(r.stderr, /warning/);
      const eff = JSON.parse(r.stdout) as {
        syslog: { allowed_sources: string[] };
        spoa: { address: string };
        fleet: { node: string };
      };
      assert.deepEqual(eff.syslog.allowed_sources, ['10.89.0.0/24'], 'the demo network may send logs');
      assert.equal(eff.spoa.address, '0.0.0.0', 'HAProxy reaches the agent from another container');
      if (s.environment?.FAIL2BAN_FLEET_NODE) assert.equal(eff.fleet.node, s.environment.FAIL2BAN_FLEET_NODE);
    }
  });
}

test('the compose HAProxy configs pass haproxy -c', { skip: peerMissing('haproxy') }, () => {
  const dir = tempDir('edgeban-compose-hap-');
  copyFileSync(join(COMPOSE, 'haproxy', 'edgeban-spoe.conf'), join(dir, 'edgeban-spoe.conf'));
  for (const cfg of ['haproxy.cfg', 'haproxy-fleet.cfg']) {
    // the image mounts ./haproxy on /usr/local/etc/haproxy
    const text = readFileSync(join(COMPOSE, 'haproxy', cfg), 'utf8').replaceAll(
      '/usr/local/etc/haproxy/',
      `${dir}/`,
    );
    writeFileSync(join(dir, cfg), text);
    const out = execFileSync(findBinary('haproxy') ?? 'haproxy', ['-c', '-f', join(dir, cfg)], {
      encoding: 'utf8',
    });
    assert.match(out, /Configuration file is valid/, cfg);
  }
});

test('the compose files name only files that exist, and each service the other configs point at', () => {
  for (const file of ['compose.yaml', 'compose.fleet.yaml']) {
    for (const [name, s] of Object.entries(services(file))) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0];
        if (src.startsWith('./')) assert.ok(existsSync(join(COMPOSE, src)), `${file} ${name}: ${src}`);
      }
      const cmd = s.command?.find((c) => c.startsWith('/usr/local/etc/haproxy/'));
      if (cmd) assert.ok(existsSync(join(COMPOSE, 'haproxy', cmd.slice('/usr/local/etc/haproxy/'.length))));
    }
  }
  // addresses the configs use are the ones compose gives the services
  const hap = readFileSync(join(COMPOSE, 'haproxy', 'haproxy.cfg'), 'utf8');
  const app = readFileSync(join(COMPOSE, 'app', 'default.conf'), 'utf8');
  const compose = readFileSync(join(COMPOSE, 'compose.yaml'), 'utf8');
  assert.match(hap, /server edgeban1 10\.89\.0\.20:12345/);
  assert.match(hap, /server app1 10\.89\.0\.30:80/);
  assert.match(app, /syslog:server=10\.89\.0\.20:5514/);
  assert.match(app, /set_real_ip_from 10\.89\.0\.10;/);
  for (const ip of ['10.89.0.10', '10.89.0.20', '10.89.0.30'])
    assert.ok(compose.includes(`ipv4_address: ${ip}`), ip);
});

test('the image ships no config file it would never read, and its HEALTHCHECK asks /ready', () => {
  const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.doesNotMatch(docker, /COPY examples/);
  assert.match(docker, /HEALTHCHECK[^\n]*\n\s*CMD \["node", "\/app\/bin\/edgeban\.js", "health"\]/);
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', 'dist', '.git', '*.db']) assert.ok(ignore.includes(p), p);
});
