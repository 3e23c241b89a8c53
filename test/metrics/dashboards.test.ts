import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { FleetBus } from '../../src/main/fleet/bus.js';
import { FleetCounting } from '../../src/main/fleet/counting.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { startEdge } from '../helpers/edge.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The Grafana dashboard and the alert rules shipped in examples/ name only metrics edgeban
 * really exports, and the rules pass Prometheus's own checker and unit tests.
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');
const RULES = join(ROOT, 'examples', 'prometheus');

function queried(): { source: string; metric: string }[] {
  const out: { source: string; metric: string }[] = [];
  const names = (expr: string) => expr.match(/\b(?:fail2ban|edgeban|process)_[a-z0-9_]+/g) ?? [];
  const dash = JSON.parse(readFileSync(join(ROOT, 'examples', 'grafana', 'edgeban.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { query: string }[] };
  };
  for (const p of dash.panels)
    for (const t of p.targets)
      for (const m of names(t.expr)) out.push({ source: `grafana "${p.title}"`, metric: m });
  for (const v of dash.templating.list)
    for (const m of names(v.query)) out.push({ source: 'grafana variable', metric: m });
  const rules = readFileSync(join(RULES, 'alerts.yml'), 'utf8');
  for (const line of rules.split('\n').filter((l) => l.trim().startsWith('expr:')))
    for (const m of names(line)) out.push({ source: `alerts.yml ${line.trim()}`, metric: m });
  return out;
}

test('every metric the Grafana dashboard and the alert rules query is exported', async () => {
  const edge = await startEdge(tempDir('edgeban-dashboards-'));
  let exported: Set<string>;
  try {
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    exported = new Set(text.match(/^# HELP [a-z0-9_:]+/gm)?.map((l) => l.slice(7)) ?? []);
  } finally {
    edge.proc.kill();
  }
  // the fleet's metrics exist only on a node with the fleet on: read them from a bus's registry
  const m = new Metrics({ defaultMetrics: false });
  const engine = { onEvent: () => () => {}, applyRemote: () => false, remoteTempBans: () => [], node: 'n' };
  new FleetBus({
    dsn: '',
    channel: 'c',
    key: Buffer.alloc(32),
    engine,
    log: pino({ level: 'silent' }),
    metrics: m,
  });
  new FleetCounting({
    engine: { onFailure: () => () => {}, recordRemoteFailures: () => null },
    node: 'n',
    bus: { isConnected: false, listen: () => {}, notify: async () => 0 },
    channel: 'c',
    key: Buffer.alloc(32),
    intervalMs: 250,
    maxEntries: 10,
    log: pino({ level: 'silent' }),
    metrics: m,
  });
  for (const x of await m.registry.getMetricsAsJSON()) exported.add(x.name);
  const histogramPart = /_(bucket|sum|count)$/;
  const missing = queried().filter(
    (q) => !exported.has(q.metric) && !exported.has(q.metric.replace(histogramPart, '')),
  );
  assert.deepEqual(missing, []);
  assert.ok(queried().length >= 20, 'the dashboard queries hardly anything');
  // and every edgeban / fail2ban metric is documented
  const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const undocumented = [...exported].filter(
    (n) => /^(edgeban|fail2ban)_/.test(n) && !doc.includes(`\`${n}\``),
  );
  assert.deepEqual(undocumented, []);
});

test('promtool checks the alert rules and their unit tests pass', { skip: peerMissing('promtool') }, () => {
  const promtool = findBinary('promtool') ?? 'promtool';
  const check = spawnSync(promtool, ['check', 'rules', 'alerts.yml'], { cwd: RULES, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 7 rules found/);
  const unit = spawnSync(promtool, ['test', 'rules', 'alerts.test.yml'], { cwd: RULES, encoding: 'utf8' });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
});
