import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagValue, parseArgs, parseDurationMs } from '../../bench/args.js';

const benches = ['store', 'soak', 'ingest'];
const underNpm = { npm_lifecycle_event: 'bench' };

test('flags after -- reach the benchmark as given, value flags joined to their value', () => {
  const p = parseArgs(['soak', '--duration', '60s', '--quick', '--port=7'], benches, {});
  assert.deepEqual(p.names, ['soak']);
  assert.deepEqual(p.flags, ['--duration=60s', '--quick', '--port=7']);
  assert.deepEqual(p.recovered, []);
  assert.equal(flagValue(p.flags, 'duration'), '60s');
});

test('a flag npm kept for itself (npm_config_quick) is taken as given and reported', () => {
  const p = parseArgs(['store'], benches, { ...underNpm, npm_config_quick: 'true' });
  assert.deepEqual(p.names, ['store']);
  assert.deepEqual(p.flags, ['--quick']);
  assert.deepEqual(p.recovered, ['--quick']);
});

test('`npm run bench soak --duration 60s`: npm keeps --duration as a switch, its value comes back', () => {
  const p = parseArgs(['soak', '60s'], benches, { ...underNpm, npm_config_duration: 'true' });
  assert.deepEqual(p.names, ['soak']);
  assert.deepEqual(p.flags, ['--duration=60s']);
});

test('`--duration=60s` kept by npm keeps its value', () => {
  const p = parseArgs(['soak'], benches, { ...underNpm, npm_config_duration: '60s' });
  assert.deepEqual(p.flags, ['--duration=60s']);
});

test('npm_config_* outside npm, or for a flag given explicitly, changes nothing', () => {
  assert.deepEqual(parseArgs(['store'], benches, { npm_config_quick: 'true' }).flags, []);
  const p = parseArgs(['store', '--quick'], benches, { ...underNpm, npm_config_quick: 'true' });
  assert.deepEqual(p.flags, ['--quick']);
  assert.deepEqual(p.recovered, []);
});

test('a bench name is never taken for a lost flag value', () => {
  const p = parseArgs(['store', 'ingest'], benches, { ...underNpm, npm_config_duration: 'true' });
  assert.deepEqual(p.names, ['store', 'ingest']);
  assert.deepEqual(p.flags, []);
});

test('durations read as milliseconds; unreadable ones are NaN', () => {
  assert.equal(parseDurationMs('60s'), 60_000);
  assert.equal(parseDurationMs('10m'), 600_000);
  assert.equal(parseDurationMs('90'), 90_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.ok(Number.isNaN(parseDurationMs('soon')));
});
