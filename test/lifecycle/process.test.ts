import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { spopBanned as bannedValue, EDGEBAN_BIN, startEdge } from '../helpers/edge.js';
import { waitForPort } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const bin = EDGEBAN_BIN;

test('starts with no config file at all, serves, and stops on SIGTERM with exit 0', async () => {
  const cwd = tempDir('edgeban-run-');
  const edge = await startEdge(cwd);
  await waitForPort(edge.metrics, 8000);
  // the SPOA opens last, after the other listeners and the restore
  await waitForPort(edge.spoa, 8000);
  assert.match(edge.out(), /running on embedded defaults/);
  const res = await fetch(`http://127.0.0.1:${edge.metrics}/metrics`);
  const text = await res.text();
  assert.match(text, /^fail2ban_build_info\{version="[^"]+",commit="[^"]*",go_version="v\d+/m);
  assert.match(text, /^fail2ban_uptime_seconds \d/m);
  assert.match(text, /^process_cpu_user_seconds_total/m);
  assert.equal(await bannedValue(edge.spoa, '127.0.0.9'), 0);
  const t0 = Date.now();
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
  assert.ok(Date.now() - t0 < 10_000);
  assert.match(edge.out(), /"msg":"stopped"/);
});

test('SIGTERM while starting waits for the start, then stops cleanly with exit 0', async () => {
  const cwd = tempDir('edgeban-early-term-');
  const edge = await startEdge(cwd);
  // the first log line comes before the store, the matchers and the listeners start
  await edge.waitFor('running on embedded defaults', 8000);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
  assert.match(edge.out(), /stop requested while starting: stopping once started/);
  assert.match(edge.out(), /"msg":"edgeban started"[\s\S]*"msg":"stopped"/);
});

test('SIGHUP: a bad file is rejected and the running config kept; a good one is applied', async () => {
  const cwd = tempDir('edgeban-hup-');
  writeFileSync(join(cwd, 'config.yaml'), 'blacklist: ["127.0.0.2"]\n');
  const edge = await startEdge(cwd);
  await waitForPort(edge.spoa, 8000);
  assert.equal(await bannedValue(edge.spoa, '127.0.0.2'), 1);
  writeFileSync(join(cwd, 'config.yaml'), 'blacklist: ["127.0.0.2"]\nban:\n  escalation_factor: 0.5\n');
  edge.proc.kill('SIGHUP');
  await edge.waitFor('configuration reload rejected');
  assert.match(edge.out(), /ban\.escalation_factor: expected a value greater than 1/);
  assert.equal(await bannedValue(edge.spoa, '127.0.0.2'), 1, 'old config still in force');
  writeFileSync(join(cwd, 'config.yaml'), 'blacklist: ["127.0.0.3"]\n');
  edge.proc.kill('SIGHUP');
  await edge.waitFor('configuration reloaded');
  assert.equal(await bannedValue(edge.spoa, '127.0.0.2'), 0);
  assert.equal(await bannedValue(edge.spoa, '127.0.0.3'), 1);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});

test('a listener that cannot bind is fatal and names the key', async () => {
  const cwd = tempDir('edgeban-bind-');
  const blocker = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    const edge = await startEdge(cwd, { FAIL2BAN_SPOA_PORT: String(port) });
    assert.equal(await edge.exited, 1);
    assert.match(edge.out(), /cannot listen on 127\.0\.0\.1:\d+ \(spoa\.address\/spoa\.port\): EADDRINUSE/);
  } finally {
    blocker.close();
  }
});

test('an invalid config file: one clear line per problem, exit 2, no stack trace', () => {
  const cwd = tempDir('edgeban-bad-');
  writeFileSync(join(cwd, 'config.yaml'), 'spoa:\n  port: 0\nban:\n  escalation_factor: 1\n');
  const r = spawnSync(process.execPath, [bin], { cwd, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(r.stderr, /config\.yaml:2: spoa\.port: expected a value of at least 1, found number 0/);
  assert.match(r.stderr, /config\.yaml:4: ban\.escalation_factor/);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

test('check-config prints the effective config and exits 0, or lists problems and exits 1', () => {
  const cwd = tempDir('edgeban-check-');
  writeFileSync(
    join(cwd, 'config.yaml'),
    'api:\n  basic_auth:\n    password: hunter2\nban:\n  max_attempts: 3\n',
  );
  const ok = spawnSync(process.execPath, [bin, 'check-config'], { cwd, encoding: 'utf8', timeout: 10_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /max_attempts: 3/);
  assert.match(ok.stdout, /initial_ban_time: 5m/);
  assert.ok(!ok.stdout.includes('hunter2'));
  const bad = spawnSync(process.execPath, [bin, 'check-config', '--config', 'nope.yaml'], {
    cwd,
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nope\.yaml: \(file\): expected a readable YAML file, found ENOENT/);
});
