import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { test } from 'node:test';
import fc from 'fast-check';
import { startEnvoy } from './helpers.js';

const CHECK = '/envoy.service.auth.v3.Authorization/Check';
const PATHS = [CHECK, '/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch', '/x/Unknown', '/'];

/** What one client stream does: its headers, the bytes it sends, and how it ends. */
interface Script {
  path: string;
  grpcType: boolean;
  chunks: Uint8Array[];
  end: 'end' | 'reset' | 'leave';
}

/** A gRPC prefix whose declared length may lie about what follows, then some bytes. */
const grpcChunk = fc
  .record({
    compressed: fc.boolean(),
    declared: fc.oneof(fc.nat(64), fc.constant(0xffffffff), fc.nat(8 * 1024 * 1024)),
    body: fc.uint8Array({ maxLength: 256 }),
  })
  .map(({ compressed, declared, body }) => {
    const b = new Uint8Array(5 + body.length);
    b[0] = compressed ? 1 : 0;
    new DataView(b.buffer).setUint32(1, declared >>> 0);
    b.set(body, 5);
    return b;
  });

const script: fc.Arbitrary<Script> = fc.record({
  path: fc.constantFrom(...PATHS),
  grpcType: fc.boolean(),
  chunks: fc.array(fc.oneof(grpcChunk, fc.uint8Array({ maxLength: 512 })), { maxLength: 4 }),
  end: fc.constantFrom('end', 'reset', 'leave'),
});

function run(session: ClientHttp2Session, s: Script): Promise<void> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': s.path,
      'content-type': s.grpcType ? 'application/grpc' : 'application/octet-stream',
      te: 'trailers',
    });
    stream.on('error', () => {});
    stream.on('data', () => {});
    stream.on('close', () => resolve());
    for (const c of s.chunks) stream.write(c);
    if (s.end === 'end') stream.end();
    else if (s.end === 'reset') stream.close(8);
    // 'leave': the session goes away under it
    setTimeout(resolve, 300).unref();
  });
}

/** An empty CheckRequest on a fresh connection: answered (grpc-status 0) by a server still standing. */
async function healthyCheck(port: number): Promise<string | undefined> {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    return await new Promise<string | undefined>((resolve) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': CHECK,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status: string | undefined;
      stream.on('response', (h) => {
        if (typeof h['grpc-status'] === 'string') status = h['grpc-status'];
      });
      stream.on('trailers', (t) => {
        if (typeof t['grpc-status'] === 'string') status = t['grpc-status'];
      });
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('close', () => resolve(status));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      setTimeout(() => resolve(status), 3000).unref();
    });
  } finally {
    session.destroy();
  }
}

test('any mix of streams, partial gRPC messages, lying lengths, resets and vanishing sessions leaves the front answering', {
  timeout: 60_000,
}, async () => {
  const env = await startEnvoy();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(script, { minLength: 1, maxLength: 8 }),
        fc.constantFrom('close', 'destroy'),
        async (scripts, ending) => {
          const session = h2connect(`http://127.0.0.1:${env.port}`);
          session.on('error', () => {});
          await new Promise<void>((r) => {
            session.once('connect', () => r());
            session.once('error', () => r());
          });
          await Promise.all(scripts.map((s) => run(session, s)));
          if (ending === 'destroy') session.destroy();
          else session.close();
          assert.equal(await healthyCheck(env.port), '0');
        },
      ),
      { seed: 0x5eed, numRuns: 200, interruptAfterTimeLimit: 8000 },
    );
  } finally {
    await env.server.close();
  }
});
