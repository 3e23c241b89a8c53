import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { CounterFeed, counterFeed, FeedSet } from '../../src/main/metrics/feed.js';

async function scraped(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = reg.getSingleMetric(name);
  assert.ok(m, name);
  const got = await m.get();
  const want = JSON.stringify(labels);
  const v = got.values.find((x) => JSON.stringify(x.labels) === want);
  return v?.value ?? 0;
}

describe('counter feeds: plain numbers read at scrape', () => {
  test('a scrape sees the count of that moment, with no timer in between', async () => {
    const reg = new Registry();
    const feed = new CounterFeed(reg, 't_total', 'test', ['service']);
    let n = 0;
    feed.add(() => n, { service: 'a' });
    assert.equal(await scraped(reg, 't_total', { service: 'a' }), 0);
    n = 5;
    assert.equal(await scraped(reg, 't_total', { service: 'a' }), 5);
    n = 12;
    assert.match(await reg.metrics(), /^t_total\{service="a"\} 12$/m);
    // a scrape without growth adds nothing
    assert.equal(await scraped(reg, 't_total', { service: 'a' }), 12);
  });

  test('sources of one counter add up per label set; a detached source gives its last growth', async () => {
    const reg = new Registry();
    const feed = new CounterFeed(reg, 'u_total', 'test', ['service', 'result']);
    const a = { allowed: 0, denied: 0 };
    const b = { allowed: 0 };
    const set = new FeedSet();
    set.add(feed.add(() => a.allowed, { service: 'x', result: 'allowed' }));
    set.add(feed.add(() => a.denied, { service: 'x', result: 'denied' }));
    const detachB = feed.add(() => b.allowed, { service: 'x', result: 'allowed' });
    a.allowed = 3;
    b.allowed = 4;
    a.denied = 1;
    assert.equal(await scraped(reg, 'u_total', { service: 'x', result: 'allowed' }), 7);
    b.allowed = 10;
    detachB();
    b.allowed = 100; // no longer read
    assert.equal(await scraped(reg, 'u_total', { service: 'x', result: 'allowed' }), 13);
    a.denied = 2;
    set.detach();
    a.denied = 50;
    assert.equal(await scraped(reg, 'u_total', { service: 'x', result: 'denied' }), 2);
  });

  test('a labelled source exports one series per key of its map', async () => {
    const reg = new Registry();
    const errors = new Map<number, number>();
    counterFeed(reg, 'e_total', 'test', ['status']).addByLabel('status', () => errors);
    errors.set(3, 2);
    errors.set(4, 1);
    assert.equal(await scraped(reg, 'e_total', { status: '3' }), 2);
    errors.set(3, 5);
    assert.equal(await scraped(reg, 'e_total', { status: '3' }), 5);
    assert.equal(await scraped(reg, 'e_total', { status: '4' }), 1);
  });

  test('counterFeed gives one counter per registry and name, so a restarted service keeps counting', async () => {
    const reg = new Registry();
    const first = counterFeed(reg, 'r_total', 'test');
    let n1 = 4;
    const d1 = first.add(() => n1);
    assert.equal(await scraped(reg, 'r_total'), 4);
    n1 = 6;
    d1();
    const second = counterFeed(reg, 'r_total', 'test');
    assert.equal(second, first);
    let n2 = 0;
    second.add(() => n2);
    n2 = 3; // the new instance starts from zero: its counts add to the old ones
    assert.equal(await scraped(reg, 'r_total'), 9);
    assert.notEqual(counterFeed(new Registry(), 'r_total', 'test'), first);
  });
});
