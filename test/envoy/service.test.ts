import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import * as yaml from 'js-yaml';
import { AUTH_PROTO, PROTO_DIR } from '../../src/main/envoy/proto.js';
import { type AppHarness, startApp } from '../helpers/app.js';
import { authClient, check, request } from './helpers.js';

// Scoped verdicts through the gRPC Check of the whole app in this process: the route's
// context_extensions name the service, as examples/envoy/envoy.yaml writes them.
const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'envoy', 'envoy.yaml');

const HTTP_ONLY = '203.0.113.5';
const WEBMAIL_ONLY = '203.0.113.6';
const GLOBAL = '203.0.113.7';

/** Every context_extensions map of the example's routes, in order. */
function exampleExtensions(): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'context_extensions') found.push(x as Record<string, string>);
        else walk(x);
      }
  };
  walk(yaml.load(readFileSync(EXAMPLE, 'utf8')));
  return found;
}

describe('envoy Check: context_extensions["service"] scopes the verdict', () => {
  let edge: AppHarness;
  let client: ReturnType<typeof authClient>;
  const routes = exampleExtensions();

  before(async () => {
    edge = await startApp((c) => {
      c.spoa.enabled = false;
      c.nginx.enabled = false;
    });
    edge.ban(HTTP_ONLY, 'http');
    edge.ban(WEBMAIL_ONLY, 'webmail');
    edge.ban(GLOBAL, null);
    client = authClient(edge.ports.envoy);
  });
  after(async () => {
    client?.close();
    await edge?.stop();
  });

  /** gRPC status code of a Check for `ip` with these context extensions (0 allowed, 7 denied). */
  const code = async (ip: string, ext?: Record<string, string>) => {
    const req = request(ip) as { attributes: Record<string, unknown> };
    if (ext) req.attributes.context_extensions = ext;
    return (await check(client, req)).status?.code;
  };

  test('the example routes name http and webmail', () => {
    assert.deepEqual(
      routes.map((r) => r.service),
      ['webmail', 'http'],
    );
  });

  test("each route is judged by the global bans and its own service's", async () => {
    const [webmail, http] = routes;
    assert.equal(await code(HTTP_ONLY, http), 7);
    assert.equal(await code(HTTP_ONLY, webmail), 0);
    assert.equal(await code(WEBMAIL_ONLY, webmail), 7);
    assert.equal(await code(WEBMAIL_ONLY, http), 0);
    assert.equal(await code(GLOBAL, http), 7);
    assert.equal(await code(GLOBAL, webmail), 7);
    assert.equal(await code('203.0.113.8', http), 0);
  });

  test('no service named (no extension, another key, an empty value): every ban counts', async () => {
    assert.equal(await code(HTTP_ONLY), 7);
    assert.equal(await code(WEBMAIL_ONLY, { tenant: 'http' }), 7);
    assert.equal(await code(WEBMAIL_ONLY, { service: '' }), 7);
    // keys are case-sensitive, as protobuf map keys are
    assert.equal(await code(WEBMAIL_ONLY, { Service: 'http' }), 7);
  });

  test('case does not matter; an unknown or too-long service sees only the global bans', async () => {
    assert.equal(await code(HTTP_ONLY, { service: 'HTTP' }), 7);
    for (const s of ['imap', 'h'.repeat(33), 'http'.repeat(5000)]) {
      assert.equal(await code(HTTP_ONLY, { service: s, other: 'x' }), 0, s.slice(0, 20));
      assert.equal(await code(GLOBAL, { service: s }), 7, s.slice(0, 20));
    }
  });

  test('a raw HTTP/2 gRPC call (node:http2, protobufjs bytes) gets the same verdicts', async () => {
    const def = loadSync(AUTH_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });
    const codec = (
      def['envoy.service.auth.v3.Authorization'] as unknown as {
        Check: {
          requestSerialize: (v: unknown) => Buffer;
          responseDeserialize: (b: Buffer) => { status?: { code?: number } };
        };
      }
    ).Check;
    const session = h2connect(`http://127.0.0.1:${edge.ports.envoy}`);
    session.on('error', () => {});
    const call = (ip: string, service: string) =>
      new Promise<{ grpc: string; code: number }>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/envoy.service.auth.v3.Authorization/Check',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        const msg = codec.requestSerialize({
          attributes: {
            source: { address: { socket_address: { address: ip, port_value: 1 } } },
            context_extensions: { service },
          },
        });
        const f = Buffer.alloc(5 + msg.length);
        f.writeUInt32BE(msg.length, 1);
        msg.copy(f, 5);
        const data: Buffer[] = [];
        stream.on('data', (d: Buffer) => data.push(d));
        stream.on('trailers', (t) => {
          const body = Buffer.concat(data);
          const res = codec.responseDeserialize(body.subarray(5, 5 + body.readUInt32BE(1)));
          resolve({ grpc: String(t['grpc-status']), code: res.status?.code ?? 0 });
        });
        stream.on('error', reject);
        stream.end(f);
      });
    try {
      assert.deepEqual(await call(HTTP_ONLY, 'http'), { grpc: '0', code: 7 });
      assert.deepEqual(await call(HTTP_ONLY, 'webmail'), { grpc: '0', code: 0 });
      assert.deepEqual(await call(WEBMAIL_ONLY, 'webmail'), { grpc: '0', code: 7 });
      assert.deepEqual(await call(GLOBAL, 'webmail'), { grpc: '0', code: 7 });
    } finally {
      session.close();
    }
  });
});
