import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants as h2, connect as h2connect } from 'node:http2';
import { createRequire } from 'node:module';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { AUTH_SERVICE } from '../../src/main/envoy/proto.js';
import { authClient, check, request, startEnvoy } from './helpers.js';

type Cb<T> = (err: (Error & { code?: number }) | null, res: T) => void;
interface HealthClient extends Client {
  Check(req: { service: string }, cb: Cb<{ status: string }>): void;
  Watch(req: { service: string }): ClientReadableStream<{ status: string }>;
}

function healthClient(port: number): HealthClient {
  const def = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: ServiceClientConstructor } } };
  };
  return new pkg.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
  ) as unknown as HealthClient;
}

function healthCheck(c: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    c.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
  );
}

/** This process's private gRPC socket folders in the temp folder (`edgeban-grpc-<pid>-…`). */
function ownSocketDirs(): Set<string> {
  return new Set(readdirSync(tmpdir()).filter((n) => n.startsWith(`edgeban-grpc-${process.pid}-`)));
}

/** A gRPC message frame (5-byte prefix) around protobuf bytes. */
function frame(msg: Buffer, compressed = 0, declaredLength = msg.length): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f[0] = compressed;
  f.writeUInt32BE(declaredLength, 1);
  msg.copy(f, 5);
  return f;
}

/** CheckRequest for a source address, hand-encoded (see wire.test.ts). */
function checkBytes(ip: string): Buffer {
  const ipb = Buffer.from(ip);
  const sa = Buffer.concat([Buffer.from([0x12, ipb.length]), ipb]);
  const wrap = (b: Buffer) => Buffer.concat([Buffer.from([0x0a, b.length]), b]);
  return wrap(wrap(wrap(wrap(sa))));
}

/**
 * Send raw bytes on a fresh TCP connection, let the server read them for a moment, then hang up
 * (a non-HTTP/2 peer is only dropped by Node after its unknownProtocolTimeout).
 */
function garbage(port: number, chunks: Buffer[]): Promise<void> {
  return new Promise<void>((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      for (const c of chunks) s.write(c);
      setTimeout(() => s.destroy(), 200);
    });
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

describe('envoy health, reflection, shutdown', () => {
  test('health Check: SERVING for "" and the Authorization service, NOT_FOUND otherwise', async () => {
    const env = await startEnvoy();
    const c = healthClient(env.port);
    try {
      assert.equal(await healthCheck(c, ''), 'SERVING');
      assert.equal(await healthCheck(c, AUTH_SERVICE), 'SERVING');
      await assert.rejects(healthCheck(c, 'nope'), (e: { code?: number }) => e.code === 5);
    } finally {
      c.close();
      await env.server.close();
    }
  });

  test('health and reflection start with the first call relayed to them; calls that arrive together share the start', async () => {
    const env = await startEnvoy();
    const c = healthClient(env.port);
    const auth = authClient(env.port);
    try {
      assert.equal((await check(auth, request('198.51.100.7'))).status?.code, 0);
      assert.equal(env.server.healthServerStarted, false, 'a Check alone does not load grpc-js');
      const answers = await Promise.all(Array.from({ length: 12 }, () => healthCheck(c, AUTH_SERVICE)));
      assert.deepEqual(answers, Array(12).fill('SERVING'));
      assert.equal(env.server.healthServerStarted, true);
      assert.equal(await healthCheck(c, ''), 'SERVING');
    } finally {
      c.close();
      auth.close();
      await env.server.close();
    }
  });

  test('health that cannot start answers UNAVAILABLE and the checks go on', async () => {
    const before = ownSocketDirs();
    const env = await startEnvoy();
    // the private socket's folder gone: the health server cannot bind
    for (const n of ownSocketDirs())
      if (!before.has(n)) rmSync(join(tmpdir(), n), { recursive: true, force: true });
    const c = healthClient(env.port);
    const auth = authClient(env.port);
    try {
      await assert.rejects(healthCheck(c, ''), (e: { code?: number }) => e.code === 14);
      await assert.rejects(healthCheck(c, ''), (e: { code?: number }) => e.code === 14);
      assert.equal((await check(auth, request('198.51.100.9'))).status?.code, 0);
      assert.equal(env.server.healthServerStarted, false);
    } finally {
      c.close();
      auth.close();
      await env.server.close();
    }
  });

  test('a server that never relayed a call stops at once and leaves no socket folder', async () => {
    const before = ownSocketDirs();
    const env = await startEnvoy();
    const auth = authClient(env.port);
    assert.equal((await check(auth, request('198.51.100.8'))).status?.code, 0);
    auth.close();
    await env.server.close();
    assert.equal(env.server.healthServerStarted, false);
    const after = [...ownSocketDirs()].filter((n) => !before.has(n));
    assert.deepEqual(after, []);
  });

  test('health Watch sees SERVING, then NOT_SERVING when shutting down, then the stream ends', async () => {
    const env = await startEnvoy({}, { announceMs: 300 });
    const c = healthClient(env.port);
    const seen: string[] = [];
    const w = c.Watch({ service: AUTH_SERVICE });
    const ended = new Promise<void>((resolve, reject) => {
      w.on('data', (m: { status: string }) => seen.push(m.status));
      w.on('status', (s: { code: number }) =>
        s.code === 0 ? resolve() : reject(new Error(`status ${s.code}`)),
      );
      w.on('error', reject);
    });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ['SERVING']);
    const closing = env.server.close();
    // while the server announces its shutdown, health checks say so and checks are still answered
    assert.equal(await healthCheck(c, ''), 'NOT_SERVING');
    const client = authClient(env.port);
    assert.equal((await check(client, request('192.0.2.1'))).status?.code, 0);
    await ended;
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
    await closing;
    client.close();
    c.close();
  });

  test('server reflection lists the Authorization and Health services and serves their files', async () => {
    const env = await startEnvoy();
    const require = createRequire(import.meta.url);
    const reflDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
    const def = loadSync('grpc/reflection/v1/reflection.proto', { keepCase: true, includeDirs: [reflDir] });
    const pkg = loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } };
    };
    const c = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${env.port}`,
      credentials.createInsecure(),
    ) as unknown as Client & { ServerReflectionInfo(): ClientDuplexStream<object, Record<string, unknown>> };
    try {
      const call = c.ServerReflectionInfo();
      const answers: Record<string, unknown>[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (m: Record<string, unknown>) => {
          answers.push(m);
          if (answers.length === 2) call.end();
        });
        call.on('end', resolve);
        call.on('error', reject);
      });
      call.write({ list_services: '' });
      call.write({ file_containing_symbol: `${AUTH_SERVICE}` });
      await done;
      const names = (answers[0].list_services_response as { service: { name: string }[] }).service.map(
        (s) => s.name,
      );
      assert.ok(names.includes(AUTH_SERVICE), names.join());
      assert.ok(names.includes('grpc.health.v1.Health'), names.join());
      const files = (answers[1].file_descriptor_response as { file_descriptor_proto: Buffer[] })
        .file_descriptor_proto;
      assert.ok(files.length > 0);
      assert.ok(files.some((f) => f.toString('latin1').includes('CheckRequest')));
    } finally {
      c.close();
      await env.server.close();
    }
  });

  test('graceful shutdown lets an in-flight call finish', async () => {
    const env = await startEnvoy({}, { announceMs: 0, drainMs: 10_000 });
    env.ban('203.0.113.9');
    const session = h2connect(`http://127.0.0.1:${env.port}`);
    session.on('error', () => {});
    const stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const data: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    stream.on('data', (d: Buffer) => data.push(d));
    stream.on('trailers', (t) => {
      trailers = t;
    });
    const finished = new Promise<void>((r) => stream.on('close', () => r()));
    const msg = frame(checkBytes('203.0.113.9'));
    stream.write(msg.subarray(0, 7)); // half a message: the call is in flight
    await new Promise((r) => setTimeout(r, 50));
    let closed = false;
    const closing = env.server.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(closed, false, 'close waits for the in-flight call');
    stream.end(msg.subarray(7));
    await finished;
    await closing;
    assert.equal(trailers['grpc-status'], '0');
    const body = Buffer.concat(data);
    assert.ok(body.length > 5);
    assert.equal(body.subarray(5).toString('latin1').includes('IP is banned'), true);
    session.close();
  });

  test('keeps serving other clients while one sends garbage', async () => {
    const env = await startEnvoy();
    env.ban('203.0.113.9');
    const client = authClient(env.port);
    let stop = false;
    let answered = 0;
    const good = (async () => {
      while (!stop) {
        const [a, b] = await Promise.all([
          check(client, request('203.0.113.9')),
          check(client, request('192.0.2.1')),
        ]);
        assert.equal(a.status?.code, 7);
        assert.equal(b.status?.code, 0);
        answered += 2;
      }
    })();
    try {
      // 1. bytes that are not HTTP/2 at all
      await garbage(env.port, [Buffer.alloc(4096, 0xab)]);
      // 2. the HTTP/2 preface, then garbage frames
      await garbage(env.port, [
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from('000004ff00000000010203040506070809', 'hex'),
        Buffer.alloc(1000, 0x7f),
      ]);
      // 3. well-formed HTTP/2 with broken gRPC messages
      const session = h2connect(`http://127.0.0.1:${env.port}`);
      session.on('error', () => {});
      const send = (body: Buffer, extra: Record<string, string> = {}) =>
        new Promise<string>((resolve) => {
          const st = session.request({
            ':method': 'POST',
            ':path': '/envoy.service.auth.v3.Authorization/Check',
            'content-type': 'application/grpc',
            te: 'trailers',
            ...extra,
          });
          let status = '';
          st.on('response', (h) => {
            if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
          });
          st.on('trailers', (t) => {
            status = String(t['grpc-status']);
          });
          st.on('error', () => {});
          st.on('close', () => resolve(status || `rst ${st.rstCode}`));
          st.resume();
          st.end(body);
        });
      const statuses = await Promise.all([
        send(frame(Buffer.from('0a05', 'hex'), 0, 1000)), // declared longer than sent
        send(frame(Buffer.from('ffffffff', 'hex'))), // not protobuf
        send(Buffer.from([0, 0])), // a truncated prefix
        send(frame(checkBytes('192.0.2.1')), { 'content-type': 'text/plain' }),
      ]);
      for (const s of statuses)
        assert.notEqual(s, '0', `garbage must not be answered OK: ${statuses.join()}`);
      session.close();
      // 4. a stream reset in the middle of a message
      const s2 = h2connect(`http://127.0.0.1:${env.port}`);
      s2.on('error', () => {});
      const st = s2.request({
        ':method': 'POST',
        ':path': '/envoy.service.auth.v3.Authorization/Check',
        'content-type': 'application/grpc',
      });
      st.on('error', () => {});
      st.write(frame(checkBytes('192.0.2.1')).subarray(0, 6));
      st.close(h2.NGHTTP2_CANCEL);
      s2.destroy();
    } finally {
      const before = answered;
      while (answered < before + 20) await new Promise((r) => setTimeout(r, 5));
      stop = true;
      await good;
    }
    assert.ok(answered >= 20);
    // and the server still answers a fresh client
    const fresh = authClient(env.port);
    assert.equal((await check(fresh, request('203.0.113.9'))).status?.code, 7);
    fresh.close();
    client.close();
    await env.server.close();
  });
});

test('the private gRPC socket folder goes with the stop, and folders of killed processes go at the next start', async () => {
  // a folder as a process killed with -9 leaves it: its pid is gone
  const dead = spawnSync('true').pid;
  const stale = join(tmpdir(), `edgeban-grpc-${dead}-abcdef`);
  mkdirSync(stale);
  writeFileSync(join(stale, 'grpc.sock'), '');
  const mine = join(tmpdir(), `edgeban-grpc-${process.pid}-zzzzzz`); // a live pid: kept
  mkdirSync(mine);
  try {
    const before = ownSocketDirs();
    const e = await startEnvoy();
    assert.equal(existsSync(stale), false, 'stale folder removed');
    assert.equal(existsSync(mine), true, 'a live process keeps its folder');
    const own = [...ownSocketDirs()].filter((n) => !before.has(n));
    assert.equal(own.length, 1, 'one folder for the new server');
    await e.server.close();
    assert.equal(existsSync(join(tmpdir(), own[0])), false, 'own folder removed at stop');
  } finally {
    rmSync(stale, { recursive: true, force: true });
    rmSync(mine, { recursive: true, force: true });
  }
});
