import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import { startEnvoy } from './helpers.js';

/** One raw HTTP/2 exchange on the ext_authz port; returns status, headers, trailers and body. */
async function exchange(port: number, headers: Record<string, string>, body: Buffer) {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', te: 'trailers', ...headers });
  let head: Record<string, unknown> = {};
  let trailers: Record<string, unknown> = {};
  const data: Buffer[] = [];
  stream.on('response', (h) => {
    head = h;
  });
  stream.on('trailers', (t) => {
    trailers = t;
  });
  stream.on('data', (d: Buffer) => data.push(d));
  stream.on('error', () => {});
  const done = new Promise<void>((r) => stream.on('close', () => r()));
  stream.end(body);
  await done;
  session.close();
  return { head, trailers, body: Buffer.concat(data) };
}

const CHECK = '/envoy.service.auth.v3.Authorization/Check';
const grpc = { ':path': CHECK, 'content-type': 'application/grpc' };

test('Check on the raw HTTP/2 path: protocol errors get gRPC statuses, never a dropped server', async () => {
  const env = await startEnvoy();
  try {
    const notGrpc = await exchange(
      env.port,
      { ':path': CHECK, 'content-type': 'application/json' },
      Buffer.from('{}'),
    );
    assert.equal(notGrpc.head[':status'], 415);
    const compressed = Buffer.from([1, 0, 0, 0, 1, 0]);
    const c = await exchange(env.port, grpc, compressed);
    assert.equal(c.head['grpc-status'], '12', 'compression is not supported: UNIMPLEMENTED');
    const truncated = Buffer.from([0, 0, 0, 0, 9, 1, 2]);
    const t = await exchange(env.port, grpc, truncated);
    assert.equal(t.head['grpc-status'], '3');
    const huge = Buffer.alloc(5 + 5 * 1024 * 1024);
    huge.writeUInt32BE(huge.length - 5, 1);
    const h = await exchange(env.port, grpc, huge);
    assert.equal(
      h.head['grpc-status'],
      '8',
      'larger than grpc.max_receive_message_length: RESOURCE_EXHAUSTED',
    );
    const empty = await exchange(env.port, grpc, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(
      empty.trailers['grpc-status'],
      '0',
      'an empty CheckRequest is answered (missing-address policy)',
    );
    const unknown = await exchange(
      env.port,
      { ':path': '/no.Such/Method', 'content-type': 'application/grpc' },
      Buffer.from([0, 0, 0, 0, 0]),
    );
    assert.equal(
      unknown.head['grpc-status'] ?? unknown.trailers['grpc-status'],
      '12',
      'relayed: grpc-js says UNIMPLEMENTED',
    );
  } finally {
    await env.server.close();
  }
});

test('relayed streams cancelled by the client at any moment never take the server down', async () => {
  const env = await startEnvoy();
  try {
    const session = h2connect(`http://127.0.0.1:${env.port}`);
    session.on('error', () => {});
    // an empty HealthCheckRequest ("" = the whole server), cancelled after 0..9 ms
    for (let i = 0; i < 60; i++) {
      const s = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Watch',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      s.on('error', () => {});
      s.end(Buffer.from([0, 0, 0, 0, 0]));
      setTimeout(() => s.close(), i % 10);
    }
    await new Promise((r) => setTimeout(r, 100));
    session.close();
    const after = await exchange(env.port, grpc, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(after.trailers['grpc-status'], '0', 'Check still answered');
  } finally {
    await env.server.close();
  }
});

test('a client that leaves with unfinished Check messages does not take the server down', async () => {
  const env = await startEnvoy();
  try {
    for (const [n, part] of [
      [4, 512 * 1024],
      [20, 64 * 1024],
    ] as const) {
      const sock = netConnect(env.port, '127.0.0.1');
      const session = h2connect(`http://127.0.0.1:${env.port}`, { createConnection: () => sock });
      session.on('error', () => {});
      await new Promise<void>((r) => session.once('connect', () => r()));
      for (let i = 0; i < n; i++) {
        const s = session.request({ ':method': 'POST', te: 'trailers', ...grpc });
        s.on('error', () => {});
        const head = Buffer.alloc(part);
        head.writeUInt32BE(part * 2, 1);
        s.write(head);
      }
      await new Promise((r) => setTimeout(r, 100));
      sock.destroy();
      await new Promise((r) => setTimeout(r, 200));
    }
    const after = await exchange(env.port, grpc, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(after.trailers['grpc-status'], '0', 'the server still answers Check');
  } finally {
    await env.server.close();
  }
});

test('health Check answers while 1,100 health Watch streams are open', async () => {
  const env = await startEnvoy();
  const sessions = [0, 1].map(() => {
    const s = h2connect(`http://127.0.0.1:${env.port}`);
    s.on('error', () => {});
    return s;
  });
  try {
    let answered = 0;
    for (let i = 0; i < 1100; i++) {
      const s = sessions[i % 2].request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Watch',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      s.on('error', () => {});
      s.once('response', () => answered++);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(answered > 0, 'Watch streams are served');
    const check = exchange(
      env.port,
      { ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc' },
      Buffer.from([0, 0, 0, 0, 0]),
    );
    const stalled = new Promise<null>((r) => setTimeout(() => r(null), 5000).unref());
    const got = await Promise.race([check, stalled]);
    assert.ok(got, 'health Check is answered, not stalled');
    assert.equal(got.trailers['grpc-status'], '0');
    assert.deepEqual([...got.body.subarray(5)], [8, 1], 'SERVING');
  } finally {
    for (const s of sessions) s.destroy();
    await env.server.close();
  }
});
