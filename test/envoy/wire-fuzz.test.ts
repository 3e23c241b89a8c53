import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import fc from 'fast-check';
import { CheckDecoder, type CheckInput } from '../../src/main/envoy/check-decoder.js';
import { AUTH_PROTO, PROTO_DIR } from '../../src/main/envoy/proto.js';
import { SERVICE_ANY, SERVICE_UNSCOPED, ServiceNames } from '../../src/shared/bantable/index.js';

const services = new ServiceNames();
const SERVICES = ['imap', 'smtp', 'web'];
for (const s of SERVICES) services.register(s);
const decoder = new CheckDecoder(services);
const decodeCheckRequest = (b: Buffer, wantHeaders: boolean) => decoder.decode(b, wantHeaders);

/**
 * The hand-written CheckRequest decoder under hostile bytes, with protobufjs (through
 * proto-loader, from our .proto) as the model: random bytes, real requests cut at every byte,
 * and real requests with a tag's wire type or a length rewritten. Its failure mode is `ok:
 * false`; nothing may throw, and what it extracts from a well-formed message is what protobufjs
 * reads there.
 */

const FC = { seed: 0x5eed, numRuns: 2000, interruptAfterTimeLimit: 4000 } as const;

const def = loadSync(AUTH_PROTO, { keepCase: true, includeDirs: [PROTO_DIR] });
const check = (
  def['envoy.service.auth.v3.Authorization'] as unknown as {
    Check: { requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown };
  }
).Check;

interface HeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer;
}
interface Decoded {
  attributes?: {
    context_extensions?: Record<string, string>;
    source?: { address?: { socket_address?: { address?: string } } };
    request?: { http?: { headers?: Record<string, string>; header_map?: { headers?: HeaderValue[] } } };
  };
}

const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

/** What the decoder must extract, computed from protobufjs' decoding of the same bytes. */
function model(bytes: Buffer): CheckInput {
  const m = check.requestDeserialize(bytes) as Decoded;
  const a = m.attributes;
  const http = a?.request?.http;
  const entries: [string, string][] = [];
  for (const [k, v] of Object.entries(http?.headers ?? {})) entries.push([k, latin1(v)]);
  for (const h of http?.header_map?.headers ?? []) {
    // a HeaderValue with neither value on the wire is no header at all
    if (h.value === undefined && h.raw_value === undefined) continue;
    const raw = h.raw_value && h.raw_value.length > 0 ? h.raw_value.toString('latin1') : null;
    entries.push([h.key ?? '', raw ?? latin1(h.value ?? '')]);
  }
  let xff: string | null = null;
  let realIp: string | null = null;
  for (const [k, v] of entries) {
    const key = k.toLowerCase();
    if (key === 'x-forwarded-for') xff = xff === null ? v : `${xff},${v}`;
    else if (key === 'x-real-ip') realIp = v;
  }
  const source = a?.source?.address?.socket_address?.address;
  return {
    source: typeof source === 'string' ? latin1(source) : null,
    xff,
    realIp,
    http: http !== undefined && http !== null,
    service: serviceModel(a?.context_extensions?.service),
    ok: true,
  };
}

/** The id a `service` extension names: ASCII letters compared without case, on the UTF-8 bytes. */
function serviceModel(v: string | undefined): number {
  if (v === undefined || v === '') return SERVICE_ANY;
  const folded = [...Buffer.from(v, 'utf8')]
    .map((c) => String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c))
    .join('');
  const id = SERVICES.indexOf(folded);
  return id >= 0 ? id : SERVICE_UNSCOPED;
}

/** Extracted strings are copies of input bytes: never longer than the input. */
function bounded(d: CheckInput, n: number): void {
  assert.equal(typeof d.ok, 'boolean');
  for (const s of [d.source, d.xff, d.realIp]) if (s !== null) assert.ok(s.length <= n);
}

const text = fc.string({ maxLength: 24, unit: 'binary' });
const headerName = fc.constantFrom(
  'x-forwarded-for',
  'X-Forwarded-For',
  'x-real-ip',
  'X-REAL-IP',
  'host',
  'x-forwarded',
  'x-real-ipv',
);
const map = fc.dictionary(fc.oneof(headerName, fc.stringMatching(/^[a-z-]{1,10}$/)), text, { maxKeys: 6 });
const headerValue = fc.record(
  {
    key: fc.oneof(headerName, fc.stringMatching(/^[a-z-]{1,10}$/)),
    value: text,
    raw_value: fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u)),
  },
  { requiredKeys: ['key'] },
);

/** A CheckRequest as protobufjs encodes it: source, headers either way, context_extensions. */
const request = fc
  .record(
    {
      source: text,
      port: fc.integer({ min: 0, max: 65535 }),
      destination: text,
      headers: map,
      headerMap: fc.array(headerValue, { maxLength: 6 }),
      context: fc.dictionary(
        fc.oneof(fc.constantFrom('service', 'Service', 'services'), fc.stringMatching(/^[a-z_]{1,8}$/)),
        fc.oneof(
          fc.constantFrom('imap', 'IMAP', 'Smtp', 'web', 'pop3', '', ' imap', 'imap'.repeat(20)),
          text,
        ),
        { maxKeys: 4 },
      ),
      network: fc.boolean(),
      body: text,
    },
    { requiredKeys: ['network'] },
  )
  .map((r) =>
    check.requestSerialize({
      attributes: {
        ...(r.source !== undefined
          ? { source: { address: { socket_address: { address: r.source, port_value: r.port ?? 0 } } } }
          : {}),
        ...(r.destination !== undefined
          ? { destination: { address: { socket_address: { address: r.destination } } } }
          : {}),
        ...(r.network
          ? {}
          : {
              request: {
                http: {
                  method: 'GET',
                  body: r.body ?? '',
                  headers: r.headers ?? {},
                  ...(r.headerMap ? { header_map: { headers: r.headerMap } } : {}),
                },
              },
            }),
        context_extensions: r.context ?? {},
      },
    }),
  );

describe('envoy CheckRequest decoder under hostile bytes (properties)', () => {
  test('random bytes never throw; extracted strings are bounded by the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (bytes, want) => {
        const b = Buffer.from(bytes);
        bounded(decodeCheckRequest(b, want), b.length);
      }),
      FC,
    );
  });

  test('well-formed requests: source and forwarding headers agree with protobufjs', () => {
    fc.assert(
      fc.property(request, (bytes) => {
        const d = decodeCheckRequest(bytes, true);
        assert.equal(d.ok, true);
        assert.deepEqual(d, model(bytes));
        // headers not believed: not read, the rest unchanged
        const n = decodeCheckRequest(bytes, false);
        assert.deepEqual(n, { ...model(bytes), xff: null, realIp: null });
      }),
      FC,
    );
  });

  test('a request cut at any byte is refused (ok false), never thrown', () => {
    fc.assert(
      fc.property(request, (bytes) => {
        for (let n = 1; n < bytes.length; n++) {
          const d = decodeCheckRequest(bytes.subarray(0, n), true);
          bounded(d, n);
          // a CheckRequest is one attributes field: any cut lands inside it
          assert.equal(d.ok, false, `cut at ${n} of ${bytes.length}`);
        }
      }),
      { ...FC, numRuns: 300 },
    );
  });

  test('a rewritten wire type or a huge length never throws; a length past the end is refused', () => {
    const huge = [
      [0xff, 0xff, 0xff, 0xff, 0x0f],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
    ];
    fc.assert(
      fc.property(
        request,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom(...huge),
        (bytes, at, wt, len) => {
          const p = bytes.length === 0 ? 0 : at % bytes.length;
          // the byte at p taken as a tag: its wire type rewritten
          const typed = Buffer.from(bytes);
          if (typed.length > 0) typed[p] = (typed[p] & ~7) | wt;
          bounded(decodeCheckRequest(typed, true), typed.length);
          // a length-delimited field at p whose length runs far past the end
          const long = Buffer.concat([bytes.subarray(0, p), Buffer.from([0x0a, ...len]), bytes.subarray(p)]);
          bounded(decodeCheckRequest(long, true), long.length);
          const top = Buffer.concat([Buffer.from([0x0a, ...len]), bytes]);
          assert.equal(decodeCheckRequest(top, true).ok, false);
        },
      ),
      FC,
    );
  });
});
