import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { startAgent } from './agent.js';
import { disconnectStatus, hello26, ipv4, notify, RawPeer, readyPeer, servedOnce } from './client.js';

test('the defaults serve one HAProxy: per-source room for its maxconn twice over (a reload), total above it', () => {
  const d = defaultConfig().spoa;
  // examples/haproxy/haproxy.cfg: "maxconn 100" on the agent's server line, plus health checks
  assert.ok(d.max_clients_per_source >= 2 * 100 + 2);
  assert.ok(d.max_clients >= d.max_clients_per_source);
  assert.ok(d.allowed_sources.includes('127.0.0.0/8'));
});

test('a peer outside spoa.allowed_sources is closed without a byte; allowed ones are served', async () => {
  const agent = await startAgent({ allowed_sources: ['127.0.0.1/32'] });
  try {
    const p = await RawPeer.open(agent.port, '127.0.0.2');
    p.send(hello26());
    await p.waitClosed();
    assert.equal(p.frames.length, 0);
    assert.equal(agent.server.rejected, 1);
    await servedOnce(agent.port, '127.0.0.1');
  } finally {
    await agent.server.close(200);
  }
});

test('when full, the connection idle the longest makes room (AGENT-DISCONNECT 0) for a new one', async () => {
  const agent = await startAgent({ max_clients: 5, max_clients_per_source: 5 });
  try {
    const silent: RawPeer[] = [];
    for (let i = 0; i < 5; i++) silent.push(await readyPeer(agent.port));
    // every one asks once: a connection busy a moment ago is never evicted, nobody is idle enough
    for (const [i, p] of silent.entries()) {
      p.send(notify(1, 1, [['m', [['src', ipv4(`127.0.0.${10 + i}`)]]]]));
      await p.waitFrames(2);
    }
    const early = await RawPeer.open(agent.port);
    early.send(hello26());
    const [refusal] = await early.waitFrames(1);
    assert.equal(refusal.type, 0x66);
    assert.equal(disconnectStatus(refusal.payload), 13);
    await new Promise((r) => setTimeout(r, 1100));
    // keep the last one busy: it must not be the one evicted
    silent[4].send(notify(1, 2, [['m', [['src', ipv4('127.0.0.9')]]]]));
    await silent[4].waitFrames(3);
    await servedOnce(agent.port);
    await silent[0].waitClosed();
    assert.equal(silent[0].frames[2].type, 0x66);
    assert.equal(disconnectStatus(silent[0].frames[2].payload), 0);
    assert.equal(agent.server.evicted, 1);
    assert.ok(!silent[4].closed);
    for (const p of silent) p.close();
  } finally {
    await agent.server.close(200);
  }
});

test('a peer that only said HELLO makes room before any connection that asked, without waiting for idleness', async () => {
  const agent = await startAgent({ max_clients: 4, max_clients_per_source: 4 });
  try {
    const asking: RawPeer[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await readyPeer(agent.port);
      p.send(notify(1, 1, [['m', [['src', ipv4('127.0.0.9')]]]]));
      await p.waitFrames(2);
      asking.push(p);
    }
    const squatters = [await readyPeer(agent.port), await readyPeer(agent.port)];
    await new Promise((r) => setTimeout(r, 300));
    // the asking ones were busy a moment ago, the squatters only said HELLO: they go first
    await servedOnce(agent.port);
    await squatters[0].waitClosed();
    assert.equal(disconnectStatus(squatters[0].frames[1].payload), 0);
    assert.ok(!asking[0].closed && !asking[1].closed);
    assert.equal(agent.server.evicted, 1);
    for (const p of [...asking, ...squatters]) p.close();
  } finally {
    await agent.server.close(200);
  }
});

test('spoa.max_clients_per_source caps one address; other addresses are still served', async () => {
  const agent = await startAgent({ max_clients: 50, max_clients_per_source: 3 });
  try {
    const mine: RawPeer[] = [];
    for (let i = 0; i < 3; i++) mine.push(await readyPeer(agent.port, '127.0.0.3'));
    const extra = await RawPeer.open(agent.port, '127.0.0.3');
    extra.send(hello26());
    const [f] = await extra.waitFrames(1);
    assert.equal(f.type, 0x66);
    assert.equal(disconnectStatus(f.payload), 13);
    await servedOnce(agent.port, '127.0.0.4');
    assert.equal(agent.server.refused, 1);
    for (const p of mine) p.close();
  } finally {
    await agent.server.close(200);
  }
});

test('a connection that sends no HELLO within spoa.hello_timeout is cut with status 2', async () => {
  const agent = await startAgent({ hello_timeout: 300 });
  try {
    const p = await RawPeer.open(agent.port);
    const t0 = Date.now();
    const [f] = await p.waitFrames(1, 3000);
    assert.equal(f.type, 0x66);
    assert.equal(disconnectStatus(f.payload), 2);
    await p.waitClosed();
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await agent.server.close(200);
  }
});
