import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAgentDisconnect, encodeAgentHello } from '../../src/main/spoa/frames.js';
import { decodeKvList } from '../../src/main/spoa/kvlist.js';
import { encodeVarint, encodeVarintBig, VarintReader } from '../../src/main/spoa/varint.js';
import { hello26, helloCheck } from './client.js';

const varint = new VarintReader();
const decodeVarint = (b: Uint8Array, off: number, end: number) => varint.decode(b, off, end);

// spop.md §1.2 worked examples, cross-checked there against bytes HAProxy put on the wire.
const VECTORS: [number | bigint, string][] = [
  [0, '00'],
  [239, 'ef'],
  [240, 'f000'],
  [256, 'f001'],
  [2287, 'ff7f'],
  [2288, 'f08000'],
  [16380, 'fcf006'],
  [51078, 'f6e917'],
  [264431, 'ffff7f'],
  [264432, 'f0808000'],
  [33818863, 'ffffff7f'],
  [33818864, 'f080808000'],
  [4294967295, 'fff0fefe7e'],
  [4328786160, 'f08080808000'],
  [5000000000, 'f091bd809400'],
  [2 ** 53 - 1, 'fff0fefefefefe7e'],
  [2n ** 63n - 1n, 'fff0fefefefefefefe06'],
  [2n ** 64n - 5n, 'fbf0fefefefefefefe0e'],
  [2n ** 64n - 1n, 'fff0fefefefefefefe0e'],
];

test('varints encode and decode every worked example of spop.md §1.2', () => {
  const buf = Buffer.alloc(16);
  for (const [v, hex] of VECTORS) {
    const end = typeof v === 'bigint' ? encodeVarintBig(buf, 0, v) : encodeVarint(buf, 0, v);
    assert.equal(buf.subarray(0, end).toString('hex'), hex, `encode ${v}`);
    const bytes = Buffer.from(hex, 'hex');
    assert.ok(decodeVarint(bytes, 0, bytes.length), `decode ${hex}`);
    assert.equal(varint.next, bytes.length);
    if (typeof v === 'bigint') assert.equal(varint.big, v);
    else {
      assert.equal(varint.value, v);
      assert.equal(varint.big, null);
    }
  }
});

test("negative INT64 arrive as 10-byte two's complement varints", () => {
  const b = Buffer.from('fbf0fefefefefefefe0e', 'hex');
  assert.ok(decodeVarint(b, 0, b.length));
  assert.equal(BigInt.asIntN(64, varint.big ?? 0n), -5n);
});

test('truncated, over-long and overflowing varints are rejected', () => {
  const cases = ['', 'f0', 'fff0', 'fff0fefefefefefefe', 'fff0fefefefefefefefe0e', 'fff0fefefefefefefe7f'];
  for (const hex of cases) {
    const b = Buffer.from(hex, 'hex');
    assert.equal(decodeVarint(b, 0, b.length), false, hex);
  }
  // the end bound is honoured even when the buffer goes on
  const b = Buffer.from('f09000', 'hex');
  assert.equal(decodeVarint(b, 0, 2), false);
});

test('AGENT-HELLO is byte-identical to the frame both HAProxy versions accepted (spop.md §3.4)', () => {
  const expected =
    '00000040' +
    '65' +
    '00000001' +
    '00' +
    '00' +
    Buffer.from('\x07version\x08\x032.0\x0emax-frame-size\x03', 'latin1').toString('hex') +
    'fcf006' +
    Buffer.from('\x0ccapabilities\x08\x0apipelining', 'latin1').toString('hex');
  assert.equal(encodeAgentHello(16380, 'pipelining').toString('hex'), expected);
});

test('AGENT-DISCONNECT carries status-code (UINT32) and message, and caps the message at 255 bytes', () => {
  const f = encodeAgentDisconnect(3);
  assert.equal(f.readUInt32BE(0), f.length - 4);
  assert.equal(f[4], 0x66);
  const kv = decodeKvList(f, 11, f.length);
  assert.equal(kv?.get('status-code'), 3);
  assert.equal(kv?.get('message'), 'frame is too big');
  const long = encodeAgentDisconnect(99, 'x'.repeat(1000));
  const msg = decodeKvList(long, 11, long.length)?.get('message');
  assert.equal(typeof msg === 'string' ? msg.length : -1, 255);
});

test('the captured HAProxy HELLOs decode to their keys', () => {
  const h = hello26();
  assert.equal(h.length, 133, 'HAProxy 2.6.12 HELLO is 133 bytes');
  const kv = decodeKvList(h, 11, h.length);
  assert.equal(kv?.get('supported-versions'), '2.0');
  assert.equal(kv?.get('max-frame-size'), 16380);
  assert.equal(kv?.get('capabilities'), 'pipelining,async');
  assert.equal(kv?.get('engine-id'), '7ddb37bd-f99b-4dfc-aca9-e600704483b1');
  const c = helloCheck();
  assert.equal(c.length, 82, 'health-check HELLO is 82 bytes');
  assert.equal(c.readUInt32BE(0), 0x4e);
  assert.equal(decodeKvList(c, 11, c.length)?.get('healthcheck'), true);
});

test('a KV list whose string runs past the frame is malformed', () => {
  const b = Buffer.from([0x03, 0x61, 0x62, 0x63, 0x08, 0x09, 0x41]);
  assert.equal(decodeKvList(b, 0, b.length), null);
  const unknownType = Buffer.from([0x01, 0x61, 0x0c]);
  assert.equal(decodeKvList(unknownType, 0, unknownType.length), null);
});

test('varint readers keep their own position: decoding with one leaves another as it was', () => {
  const a = new VarintReader();
  const b = new VarintReader();
  const buf = Buffer.from('f00007', 'hex');
  assert.ok(a.decode(buf, 0, buf.length));
  assert.ok(b.decode(buf, 2, buf.length));
  assert.equal(b.value, 7);
  assert.equal(b.next, 3);
  assert.equal(a.value, 240);
  assert.equal(a.next, 2);
});
