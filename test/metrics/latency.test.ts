import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { LATENCY_BUCKETS, ServiceLatency } from '../../src/main/metrics/latency.js';

const line = (text: string, labels: string) => {
  const m = new RegExp(`^fail2ban_service_request_duration_seconds_${labels} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
};

test('buckets run from 10 µs to 100 ms and each answer lands in the first bucket it fits', async () => {
  assert.equal(LATENCY_BUCKETS[0], 0.00001);
  assert.equal(LATENCY_BUCKETS.at(-1), 0.1);
  const reg = new Registry();
  const h = new ServiceLatency(reg);
  const { recorder } = h.recorder('haproxy');
  recorder.observeMs(0.004); // 4 µs
  recorder.observeMs(0.01); // 10 µs: le is inclusive
  recorder.observeMs(0.02); // 20 µs
  recorder.observeMs(3); // 3 ms
  recorder.observeMs(250); // past the last bucket
  const text = await reg.metrics();
  assert.match(text, /^# TYPE fail2ban_service_request_duration_seconds histogram$/m);
  assert.equal(line(text, 'bucket\\{le="0.00001",service="haproxy"\\}'), 2);
  assert.equal(line(text, 'bucket\\{le="0.000025",service="haproxy"\\}'), 3);
  assert.equal(line(text, 'bucket\\{le="0.0025",service="haproxy"\\}'), 3);
  assert.equal(line(text, 'bucket\\{le="0.005",service="haproxy"\\}'), 4);
  assert.equal(line(text, 'bucket\\{le="0.1",service="haproxy"\\}'), 4);
  assert.equal(line(text, 'bucket\\{le="\\+Inf",service="haproxy"\\}'), 5);
  assert.equal(line(text, 'count\\{service="haproxy"\\}'), 5);
  assert.ok(Math.abs((line(text, 'sum\\{service="haproxy"\\}') ?? 0) - 0.253034) < 1e-9);
});

test('a batch of answers timed together counts each at their average, the sum exact', async () => {
  const reg = new Registry();
  const h = new ServiceLatency(reg);
  const { recorder } = h.recorder('haproxy');
  recorder.observeBatchMs(0.32, 32); // 32 NOTIFYs of one read in 320 µs: 10 µs each
  recorder.observeBatchMs(0.6, 2); // 300 µs each
  const text = await reg.metrics();
  assert.equal(line(text, 'bucket\\{le="0.00001",service="haproxy"\\}'), 32);
  assert.equal(line(text, 'bucket\\{le="0.00025",service="haproxy"\\}'), 32);
  assert.equal(line(text, 'bucket\\{le="0.0005",service="haproxy"\\}'), 34);
  assert.equal(line(text, 'count\\{service="haproxy"\\}'), 34);
  assert.ok(Math.abs((line(text, 'sum\\{service="haproxy"\\}') ?? 0) - 0.00092) < 1e-12);
});

test('a detached recorder (its server stopped) leaves its counts; a new one adds to them', async () => {
  const reg = new Registry();
  const h = new ServiceLatency(reg);
  const a = h.recorder('nginx');
  a.recorder.observeMs(0.05);
  a.detach();
  a.recorder.observeMs(1); // after detaching: not counted
  const b = h.recorder('nginx');
  b.recorder.observeMs(0.05);
  h.recorder('envoy');
  const text = await reg.metrics();
  assert.equal(line(text, 'count\\{service="nginx"\\}'), 2);
  assert.equal(line(text, 'count\\{service="envoy"\\}'), 0);
  const json = await reg.getMetricsAsJSON();
  assert.equal(json[0].name, 'fail2ban_service_request_duration_seconds');
});
