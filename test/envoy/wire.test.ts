import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import fc from 'fast-check';
import { CheckDecoder } from '../../src/main/envoy/check-decoder.js';
import { AUTH_PROTO, assertWireLayout, loadDefinitions, PROTO_DIR } from '../../src/main/envoy/proto.js';
import { encodeDenied, encodeOk } from '../../src/main/envoy/wire.js';
import { rawClient, startEnvoy } from './helpers.js';

const decoder = new CheckDecoder();
const decodeCheckRequest = (b: Buffer, wantHeaders: boolean) => decoder.decode(b, wantHeaders);

// --- protobuf written by hand, with Envoy's field numbers spelled out here (not taken from our
// .proto or codec), so a wrong number in either is caught -------------------------------------

const LEN = 2;
const VARINT = 0;
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
/** A length-delimited field. */
function ld(field: number, ...payload: (number[] | string)[]): number[] {
  const body = payload.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p)] : p));
  return [...varint((field << 3) | LEN), ...varint(body.length), ...body];
}
function vi(field: number, n: number): number[] {
  return [...varint((field << 3) | VARINT), ...varint(n)];
}

/** A field read back from bytes. */
interface Field {
  field: number;
  wt: number;
  n: number;
  bytes: Buffer;
}
function parse(b: Buffer): Field[] {
  const out: Field[] = [];
  let p = 0;
  const rv = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  while (p < b.length) {
    const tag = rv();
    const wt = tag & 7;
    if (wt === VARINT) out.push({ field: tag >>> 3, wt, n: rv(), bytes: Buffer.alloc(0) });
    else if (wt === LEN) {
      const n = rv();
      out.push({ field: tag >>> 3, wt, n, bytes: b.subarray(p, p + n) });
      p += n;
    } else throw new Error(`unexpected wire type ${wt}`);
  }
  return out;
}
const one = (fs: Field[], n: number) => {
  const f = fs.filter((x) => x.field === n);
  assert.equal(f.length, 1, `field ${n} once`);
  return f[0];
};

/**
 * CheckRequest{attributes(1){source(1){address(1){socket_address(1){address(2), port_value(3)}}},
 * destination(2){…}, request(4){http(2){method(2), headers(3){key(1), value(2)}, header_map(13)…}}}}
 */
function handRequest(source: string, xff?: string, network = false): Buffer {
  const peer = (ip: string, port: number) => ld(1, ld(1, ld(2, ip), vi(3, port)));
  const http = ld(
    2,
    ld(1, 'req-77'),
    ld(2, 'GET'),
    ld(3, ld(1, ':path'), ld(2, '/login')),
    ...(xff ? [ld(3, ld(1, 'x-forwarded-for'), ld(2, xff))] : []),
    ld(4, '/login'),
    ld(5, 'mail.example.com'),
  );
  return Buffer.from(
    ld(1, ld(1, peer(source, 51000)), ld(2, peer('192.0.2.200', 443)), ...(network ? [] : [ld(4, http)])),
  );
}

describe('envoy ext_authz: raw protobuf bytes written by hand', () => {
  let env: Awaited<ReturnType<typeof startEnvoy>>;
  let raw: ReturnType<typeof rawClient>;
  before(async () => {
    env = await startEnvoy({ envoy: { trust_headers: true, trusted_proxies: ['10.0.0.0/8'] } });
    env.ban('203.0.113.9');
    raw = rawClient(env.port);
  });
  after(async () => {
    raw.client.close();
    await env.server.close();
  });

  test('the literal bytes of a minimal request (source 203.0.113.9) are understood', async () => {
    // attributes 0a 16 | source 0a 14 | address 0a 12 | socket_address 0a 10 |
    // address 12 0b "203.0.113.9" | port_value 18 b8 17 (3000)
    const bytes = Buffer.from('0a160a140a120a10' + '120b3230332e302e3131332e39' + '18b817', 'hex');
    const res = parse(await raw.check(bytes));
    const status = parse(one(res, 1).bytes);
    assert.equal(one(status, 1).n, 7);
  });

  test('a banned source: status 7, denied_response 403 with headers and body, read by hand', async () => {
    const res = parse(await raw.check(handRequest('203.0.113.9')));
    const status = parse(one(res, 1).bytes);
    assert.equal(one(status, 1).n, 7, 'google.rpc.Status.code = PERMISSION_DENIED');
    assert.match(one(status, 2).bytes.toString(), /IP is banned due to suspicious activity/);
    const denied = parse(one(res, 2).bytes);
    assert.equal(one(parse(one(denied, 1).bytes), 1).n, 403, 'DeniedHttpResponse.status.code');
    const headers = Object.fromEntries(
      denied
        .filter((f) => f.field === 2)
        .map((f) => {
          const hv = parse(one(parse(f.bytes), 1).bytes);
          return [one(hv, 1).bytes.toString(), one(hv, 2).bytes.toString()];
        }),
    );
    assert.equal(headers['x-fail2ban-status'], 'denied');
    assert.equal(headers['x-fail2ban-ip'], '203.0.113.9');
    assert.match(one(denied, 3).bytes.toString(), /Access denied/);
    assert.equal(res.filter((f) => f.field === 3).length, 0, 'no ok_response');
  });

  test('an allowed source: status 0, ok_response(3) header x-fail2ban-status: allowed', async () => {
    const res = parse(await raw.check(handRequest('192.0.2.10')));
    const status = parse(one(res, 1).bytes);
    assert.equal(status.filter((f) => f.field === 1 && f.n !== 0).length, 0);
    const ok = parse(one(res, 3).bytes);
    const hv = parse(one(parse(one(ok, 2).bytes), 1).bytes);
    assert.equal(one(hv, 1).bytes.toString(), 'x-fail2ban-status');
    assert.equal(one(hv, 2).bytes.toString(), 'allowed');
  });

  test('headers(3) map entries are read: a trusted proxy forwarding a banned client', async () => {
    const res = parse(await raw.check(handRequest('10.0.0.5', '203.0.113.9')));
    assert.equal(one(parse(one(res, 1).bytes), 1).n, 7);
  });

  test('the network filter request (no request(4)): status only', async () => {
    const res = parse(await raw.check(handRequest('203.0.113.9', undefined, true)));
    assert.equal(one(parse(one(res, 1).bytes), 1).n, 7);
    assert.equal(res.length, 1);
  });

  test('bytes that are not a CheckRequest: INVALID_ARGUMENT, and the server goes on', async () => {
    for (const bad of ['ff', '0a', '0a05', '0aff', '0b00', '0a0312', '00']) {
      await assert.rejects(raw.check(Buffer.from(bad, 'hex')), (e: { code?: number }) => e.code === 3, bad);
    }
    const res = parse(await raw.check(handRequest('203.0.113.9')));
    assert.equal(one(parse(one(res, 1).bytes), 1).n, 7);
  });
});

describe('envoy ext_authz codec', () => {
  const def = loadSync(AUTH_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });
  const ser = def['envoy.service.auth.v3.Authorization'] as unknown as {
    Check: { requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };
  };

  test('the .proto and the codec agree (assertWireLayout passes on the shipped files)', () => {
    assert.doesNotThrow(() => assertWireLayout(loadDefinitions()));
  });

  test('a layout with a wrong number is refused', () => {
    const d = loadDefinitions();
    const sa = d['envoy.config.core.v3.SocketAddress'] as unknown as {
      type: { field: { name: string; number: number }[] };
    };
    const copy = JSON.parse(JSON.stringify(sa)) as typeof sa;
    const f = copy.type.field.find((x) => x.name === 'address');
    assert.ok(f);
    f.number = 3;
    assert.throws(
      () => assertWireLayout({ ...d, 'envoy.config.core.v3.SocketAddress': copy } as unknown as typeof d),
      /SocketAddress\.address/,
    );
  });

  test('decodes what protobufjs encodes from our .proto (property)', () => {
    const text = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(
        fc.option(text, { nil: undefined }),
        fc.dictionary(fc.stringMatching(/^[a-z-]{1,12}$/), text, { maxKeys: 8 }),
        fc.option(text, { nil: undefined }),
        fc.boolean(),
        fc.boolean(),
        (source, headers, xff, network, asMap) => {
          const h = { ...headers };
          if (xff !== undefined) h['x-forwarded-for'] = xff;
          const http = asMap
            ? {
                header_map: {
                  headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })),
                },
              }
            : { headers: h };
          const req = {
            attributes: {
              ...(source !== undefined
                ? { source: { address: { socket_address: { address: source } } } }
                : {}),
              destination: { address: { socket_address: { address: '10.9.9.9' } } },
              ...(network ? {} : { request: { http: { method: 'GET', ...http } } }),
            },
          };
          const d = decodeCheckRequest(ser.Check.requestSerialize(req), true);
          assert.equal(d.ok, true);
          // proto3 drops empty strings: an empty source is "absent"
          assert.equal(d.source ?? '', source === undefined ? '' : latin1(source));
          assert.equal(d.http, !network);
          const wantXff = !network && xff !== undefined && (asMap || xff !== '') ? latin1(xff) : null;
          if (!network && xff !== undefined) assert.equal(d.xff ?? '', wantXff ?? '');
          else assert.equal(d.xff, null);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('garbage and truncated messages never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, want) => {
        const d = decodeCheckRequest(Buffer.from(bytes), want);
        assert.equal(typeof d.ok, 'boolean');
      }),
      { numRuns: 2000 },
    );
    const full = handRequest('203.0.113.9', '1.2.3.4');
    for (let n = 0; n < full.length; n++) {
      const d = decodeCheckRequest(full.subarray(0, n), true);
      assert.equal(typeof d.ok, 'boolean');
    }
  });

  test('responses decode with protobufjs from our .proto', () => {
    const ok = ser.Check.responseDeserialize(encodeOk([['x-a', 'b']])) as Record<string, unknown>;
    assert.deepEqual(
      (ok.ok_response as { headers: { header: { key: string } }[] }).headers[0].header.key,
      'x-a',
    );
    const den = ser.Check.responseDeserialize(
      encodeDenied({
        grpcCode: 7,
        message: 'é',
        http: { status: 403, headers: [['k', 'ü']], body: 'x'.repeat(300) },
      }),
    ) as {
      status: { code: number; message: string };
      denied_response: { body: string; headers: { header: { value: string } }[] };
    };
    assert.equal(den.status.code, 7);
    assert.equal(den.status.message, 'é');
    assert.equal(den.denied_response.body.length, 300);
    assert.equal(den.denied_response.headers[0].header.value, 'ü');
  });
});

/** What `toString('latin1')` of the UTF-8 bytes gives (the codec reads addresses as latin1). */
function latin1(s: string): string {
  return Buffer.from(s).toString('latin1');
}
