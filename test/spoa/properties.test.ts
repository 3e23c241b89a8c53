import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SpoaConnection } from '../../src/main/spoa/connection.js';
import { decodeKvList } from '../../src/main/spoa/kvlist.js';
import { NotifyAnswerer } from '../../src/main/spoa/notify.js';
import { encodeVarint, encodeVarintBig, VarintReader } from '../../src/main/spoa/varint.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { fakeHost, fakeSocket } from './fake.js';
import {
  type AgentFrame,
  BANNED_ACTION_BYTES,
  disconnectCode,
  expectedVerdicts,
  frameBytes,
  helloBytes,
  type Message,
  notifyBytes,
  parseActions,
  parseAgentOutput,
  readKv,
  type Value,
  varint,
} from './model.js';

const vslot = new VarintReader();
const decodeVarint = (b: Uint8Array, off: number, end: number) => vslot.decode(b, off, end);

const RUNS = { seed: 0x5eed, numRuns: 400, interruptAfterTimeLimit: 4000 };
const AGENT_MAX = 65536;

const table = new BanTable();
const now = () => Math.floor(Date.now() / 1000);
for (const ip of ['127.0.0.2', '2001:db8::bad']) {
  const a = parseIp(ip);
  table.set(
    a.bytes,
    a.family,
    a.family === 4 ? 32 : 128,
    Kind.TEMP_BAN,
    now() + 3600,
    1,
    table.reasonId('t'),
  );
}
/** Bans for one service only: 127.0.0.5 for imap, 2001:db8::5 for smtp. */
const SCOPED: Record<string, string> = { '127.0.0.5': 'imap', '2001:db8::5': 'smtp' };
for (const [ip, service] of Object.entries(SCOPED)) {
  const a = parseIp(ip);
  const id = table.services.register(service);
  table.setScoped(id, a.bytes, a.family, a.family === 4 ? 32 : 128, now() + 3600, 1, table.reasonId('t'));
}
const answerer = () =>
  new NotifyAnswerer(table, { scope: 1, setReason: false, setTtl: false }, () => '', table.services);

const BANNED4 = Buffer.from([127, 0, 0, 2]);
const BANNED6 = Buffer.from('20010db8000000000000000000000bad', 'hex');
const MAPPED6 = Buffer.from('00000000000000000000ffff7f000002', 'hex');
const SCOPED4 = Buffer.from([127, 0, 0, 5]);
const SCOPED6 = Buffer.from('20010db8000000000000000000000005', 'hex');
const SCOPED_MAPPED6 = Buffer.from('00000000000000000000ffff7f000005', 'hex');
/** Address strings and the address each means ('global' banned everywhere, a service name, or free). */
const STRINGS: Record<string, 'global' | 'imap' | 'smtp' | 0 | null> = {
  '127.0.0.2': 'global',
  '127.0.0.9': 0,
  '2001:db8::bad': 'global',
  '::ffff:127.0.0.2': 'global',
  '127.0.0.5': 'imap',
  '::ffff:127.0.0.5': 'imap',
  '2001:db8::5': 'smtp',
  'not-an-ip': null,
  '': null,
};
/** Values a `service` argument takes besides random ones: known, other case, unknown, too long, empty. */
const SERVICE_STRINGS = ['imap', 'IMAP', 'Smtp', 'smtp', 'pop3', 'imap'.repeat(12), '', 'imap\0'];

/** The service id the model resolves a `service` argument to: ASCII case folded, exact match. */
function modelService(b: Uint8Array | null): 'any' | 'imap' | 'smtp' | 'unscoped' {
  if (b === null || b.length === 0) return 'any';
  const s = [...b].map((c) => String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c)).join('');
  return s === 'imap' || s === 'smtp' ? s : 'unscoped';
}

/** What an address is banned for: exact byte comparisons against what the table holds. */
function bannedFor(v: Value): 'global' | 'imap' | 'smtp' | 0 | null {
  if (v.t === 'ipv4') {
    const b = Buffer.from(v.b);
    return b.equals(BANNED4) ? 'global' : b.equals(SCOPED4) ? 'imap' : 0;
  }
  if (v.t === 'ipv6') {
    const b = Buffer.from(v.b);
    if (b.equals(BANNED6) || b.equals(MAPPED6)) return 'global';
    if (b.equals(SCOPED_MAPPED6)) return 'imap';
    return b.equals(SCOPED6) ? 'smtp' : 0;
  }
  if (v.t !== 'string') return null;
  const s = Buffer.from(v.b).toString('latin1');
  if (s in STRINGS) return STRINGS[s];
  // strings outside the pool are letters g–z or service names: never an address
  return null;
}

/**
 * The model's verdict: a global ban denies every request; a scoped one denies a request naming
 * its service or naming none, never one naming another or an unknown service.
 */
function judge(v: Value, service: Uint8Array | null): 0 | 1 | null {
  const b = bannedFor(v);
  if (b === null || b === 0) return b;
  if (b === 'global') return 1;
  const s = modelService(service);
  return s === 'any' || s === b ? 1 : 0;
}

const bytes = (s: string) => Buffer.from(s, 'latin1');
const arbName = fc.oneof(
  fc.constantFrom('', 'src', 'ip', 'src_ip', 'path', 'check-client-ip', 'service', 'service').map(bytes),
  fc.uint8Array({ maxLength: 12 }),
);
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const arbValue: fc.Arbitrary<Value> = fc.oneof(
  fc.constant<Value>({ t: 'null' }),
  fc.boolean().map<Value>((v) => ({ t: 'bool', v })),
  fc
    .tuple(fc.constantFrom('int32', 'uint32', 'int64', 'uint64' as const), u64)
    .map<Value>(([t, v]) => ({ t, v })),
  fc
    .oneof(fc.constantFrom(BANNED4, SCOPED4), fc.uint8Array({ minLength: 4, maxLength: 4 }))
    .map<Value>((b) => ({ t: 'ipv4', b })),
  fc
    .oneof(
      fc.constantFrom(BANNED6, MAPPED6, SCOPED6, SCOPED_MAPPED6),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
    )
    .map<Value>((b) => ({ t: 'ipv6', b })),
  fc
    .oneof(
      fc.constantFrom(...Object.keys(STRINGS)).map(bytes),
      fc.constantFrom(...SERVICE_STRINGS).map(bytes),
      fc.uint8Array({ min: 0x67, max: 0x7a, maxLength: 300 }),
    )
    .map<Value>((b) => ({ t: 'string', b })),
  fc.uint8Array({ maxLength: 300 }).map<Value>((b) => ({ t: 'binary', b })),
);
const arbMessage: fc.Arbitrary<Message> = fc.record({
  name: arbName,
  args: fc.array(fc.record({ name: arbName, value: arbValue }), { maxLength: 5 }),
});
/** Many unnamed IPV4 messages: the smallest messages that each cost a verdict. */
const arbFlood = fc.tuple(fc.integer({ min: 0, max: 2500 }), fc.boolean()).map(([n, banned]) =>
  Array.from(
    { length: n },
    (): Message => ({
      name: new Uint8Array(0),
      args: [
        { name: new Uint8Array(0), value: { t: 'ipv4', b: banned ? BANNED4 : Buffer.from([10, 0, 0, 1]) } },
      ],
    }),
  ),
);
const arbId = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), u64);
const arbNotify = fc.record({
  sid: arbId,
  fid: arbId,
  messages: fc.oneof(
    { weight: 4, arbitrary: fc.array(arbMessage, { maxLength: 8 }) },
    { weight: 1, arbitrary: arbFlood },
  ),
});
const arbStream = fc.record({
  maxFrame: fc.oneof(fc.constantFrom(256, 16380, 65536, 1 << 20), fc.integer({ min: 256, max: 70000 })),
  notifies: fc.array(arbNotify, { minLength: 1, maxLength: 6 }),
  /** Frames the agent must ignore between NOTIFYs: unknown types, ABORT set. */
  noise: fc.array(fc.constantFrom('unknown', 'abort', 'none'), { maxLength: 6 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
  turns: fc.array(fc.boolean(), { maxLength: 12 }),
});

/** Feed `stream` cut at `cuts` (some chunks in later loop turns); returns the agent's output. */
async function drive(
  stream: Buffer,
  cuts: number[],
  turns: boolean[],
  between?: () => void,
): Promise<{ out: Buffer; host: ReturnType<typeof fakeHost>; conn: SpoaConnection }> {
  const written: Buffer[] = [];
  const host = fakeHost(answerer(), AGENT_MAX);
  const conn = new SpoaConnection(fakeSocket(written) as never, host, Date.now());
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (let i = 0; i <= points.length; i++) {
    const at = i < points.length ? points[i] : stream.length;
    // straight onData, not the guarded socket handler: an exception fails the property
    conn.onData(stream.subarray(prev, at));
    prev = at;
    between?.();
    if (turns[i]) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return { out: Buffer.concat(written), host, conn };
}

/** Checks every agent frame must pass whatever the input; returns the negotiated max-frame-size. */
function checkWellFormed(frames: AgentFrame[]): number {
  let limit = 16384;
  frames.forEach((f, i) => {
    assert.ok(f.size - 4 <= limit, `frame ${i} of ${f.size - 4} bytes above ${limit}`);
    if (f.type === 101) {
      assert.equal(i, 0, 'AGENT-HELLO first');
      const mfs = readKv(f.payload).get('max-frame-size');
      assert.equal(mfs?.t, 'uint32');
      limit = Number((mfs as { v: bigint }).v);
      assert.ok(limit >= 256 && limit <= AGENT_MAX);
    } else if (f.type === 102) {
      assert.equal(i, frames.length - 1, 'nothing after AGENT-DISCONNECT');
      disconnectCode(f.payload);
    } else {
      for (const a of parseActions(f.payload)) {
        assert.deepEqual([a.type, a.scope, a.name], [1, 1, 'banned']);
        assert.equal(a.value?.t, 'uint32');
      }
    }
  });
  return limit;
}

function streamOf(v: {
  maxFrame: number;
  notifies: { sid: bigint; fid: bigint; messages: Message[] }[];
  noise: string[];
}) {
  const parts: Buffer[] = [helloBytes(v.maxFrame)];
  v.notifies.forEach((n, i) => {
    parts.push(notifyBytes(n.sid, n.fid, n.messages));
    const noise = v.noise[i];
    if (noise === 'unknown') parts.push(frameBytes(42, 1, 1n, 1n, [1, 2, 3]));
    if (noise === 'abort') parts.push(frameBytes(3, 3, 5n, 1n, [0, 0]));
  });
  return Buffer.concat(parts);
}

test('for valid streams split and coalesced anyhow, the answers agree with the model', async () => {
  await fc.assert(
    fc.asyncProperty(arbStream, async (v) => {
      const { out, host } = await drive(streamOf(v), v.cuts, v.turns);
      assert.deepEqual(host.crashes, []);
      const frames = parseAgentOutput(out);
      const limit = checkWellFormed(frames);
      assert.equal(limit, Math.min(v.maxFrame, AGENT_MAX));
      let k = 1;
      for (const n of v.notifies) {
        const f = frames[k++];
        assert.ok(f, 'an answer for every NOTIFY until a disconnect');
        const nb = notifyBytes(n.sid, n.fid, n.messages);
        if (nb.length - 4 > limit) {
          assert.equal(f.type, 102);
          assert.equal(disconnectCode(f.payload), 3);
          break;
        }
        const verdicts = expectedVerdicts(n.messages, judge);
        const idLen = varint(n.sid).length + varint(n.fid).length;
        const ackLen = 5 + idLen + verdicts.length * BANNED_ACTION_BYTES;
        if (ackLen > limit) {
          // the verdicts do not fit one frame: the protocol's answer is "frame is too big"
          assert.equal(f.type, 102);
          assert.equal(disconnectCode(f.payload), 3);
          break;
        }
        assert.equal(f.type, 103);
        assert.equal(f.sid, n.sid);
        assert.equal(f.fid, n.fid);
        assert.equal(f.size, 4 + ackLen, 'the ACK is exactly as long as its content');
        assert.deepEqual(
          parseActions(f.payload).map((a) => Number((a.value as { v: bigint }).v)),
          verdicts,
        );
      }
      assert.equal(k, frames.length, 'no frame beyond the answers');
    }),
    RUNS,
  );
});

const arbMutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('length' as const), frame: fc.nat(), value: fc.oneof(fc.nat(40), fc.nat()) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 12 }) }),
  fc.record({
    kind: fc.constant('varint' as const),
    at: fc.nat(),
    bytes: fc.array(fc.constantFrom(0xf0, 0xff, 0x80, 0xfe, 0x7f, 0x00), { minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('type' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

/** Apply mutations; `length` rewrites the LENGTH of the n-th frame, `type` a typed-data byte's low bits. */
type Mutation = typeof arbMutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(stream: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(stream);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.kind === 'length' ? 0 : m.at % b.length;
    switch (m.kind) {
      case 'set':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'type':
        if (b.length > 0) b[at] = (b[at] & 0xf0) | (m.byte & 0x0f);
        break;
      case 'length': {
        let p = 0;
        for (let i = 0; i < m.frame % 8 && p + 4 <= b.length; i++) p += 4 + b.readUInt32BE(p);
        if (p + 4 <= b.length) b.writeUInt32BE(m.value >>> 0, p);
        break;
      }
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'varint':
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(m.bytes),
          b.subarray(Math.min(b.length, at + m.bytes.length)),
        ]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
    }
  }
  return b;
}

test('mutated streams (bytes, lengths, varints, types) never throw and get only well-formed frames', async () => {
  await fc.assert(
    fc.asyncProperty(arbStream, fc.array(arbMutation, { minLength: 1, maxLength: 6 }), async (v, muts) => {
      const stream = mutate(streamOf(v), muts);
      const { out, host } = await drive(stream, v.cuts, v.turns);
      assert.deepEqual(host.crashes, []);
      checkWellFormed(parseAgentOutput(out));
    }),
    RUNS,
  );
});

test('arbitrary bytes as a stream never throw and get only well-formed frames', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.concat([helloBytes(16380), b])),
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (b, cuts) => {
        const { out, host } = await drive(Buffer.from(b), cuts, []);
        assert.deepEqual(host.crashes, []);
        checkWellFormed(parseAgentOutput(out));
      },
    ),
    RUNS,
  );
});

const CANARY = Buffer.from('CANARY-7');

test("another connection's bytes never reach a peer: a canary-filled connection runs beside fuzzed ones", async () => {
  // the other connection: big canary arguments, partial frames left hanging, many answers
  const otherOut: Buffer[] = [];
  const other = new SpoaConnection(
    fakeSocket(otherOut) as never,
    fakeHost(answerer(), AGENT_MAX),
    Date.now(),
  );
  other.onData(helloBytes(65536));
  const canaryArg = (n: number): Message => ({
    name: bytes('req-msg'),
    args: [
      { name: bytes('ua'), value: { t: 'string', b: Buffer.alloc(n, CANARY) } },
      { name: bytes('src'), value: { t: 'ipv4', b: BANNED4 } },
    ],
  });
  const feedOther = (i: number) => {
    const f = notifyBytes(BigInt(i), 1n, [canaryArg(200 + (i % 7) * 900)]);
    other.onData(f.subarray(0, f.length >> 1));
    other.onData(f.subarray(f.length >> 1));
    // and a frame left half-read, so its buffer holds canary bytes
    other.onData(notifyBytes(BigInt(i), 2n, [canaryArg(3000)]).subarray(0, 1500));
    other.onData(Buffer.alloc(0));
  };
  for (let i = 0; i < 50; i++) feedOther(i);
  let round = 0;
  await fc.assert(
    fc.asyncProperty(arbStream, fc.array(arbMutation, { maxLength: 3 }), async (v, muts) => {
      const stream = mutate(streamOf(v), muts);
      const { out, host } = await drive(stream, v.cuts, v.turns, () => feedOther(round++));
      assert.deepEqual(host.crashes, []);
      assert.equal(out.indexOf(CANARY), -1, 'a canary byte run reached another peer');
      checkWellFormed(parseAgentOutput(out));
    }),
    { ...RUNS, numRuns: 200 },
  );
  assert.equal(Buffer.concat(otherOut).indexOf(CANARY), -1);
});

test('varints: every 64-bit value round-trips; random bytes decode or are refused, never misread', () => {
  const buf = Buffer.alloc(16);
  fc.assert(
    fc.property(u64, (v) => {
      const end =
        v > BigInt(Number.MAX_SAFE_INTEGER) ? encodeVarintBig(buf, 0, v) : encodeVarint(buf, 0, Number(v));
      assert.ok(decodeVarint(buf, 0, end));
      assert.equal(vslot.next, end);
      assert.equal(vslot.big ?? BigInt(vslot.value), v);
    }),
    { ...RUNS, numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 14 }), (b) => {
      if (!decodeVarint(b, 0, b.length)) return;
      // the encoding is bijective: re-encoding gives back exactly the bytes consumed
      const v = vslot.big ?? BigInt(vslot.value);
      const next = vslot.next;
      const end = encodeVarintBig(buf, 0, v);
      assert.equal(
        Buffer.from(buf.subarray(0, end)).toString('hex'),
        Buffer.from(b.subarray(0, next)).toString('hex'),
      );
    }),
    { ...RUNS, numRuns: 2000 },
  );
});

test('KV lists: arbitrary bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      decodeKvList(b, 0, b.length);
    }),
    { ...RUNS, numRuns: 2000 },
  );
});

test('the answerer alone: for any NOTIFY payload, the ACK is exact or refused, never past its buffer', () => {
  const a = answerer();
  fc.assert(
    fc.property(arbNotify, fc.integer({ min: 256, max: 70000 }), fc.nat(64), (n, maxFrame, offset) => {
      const f = notifyBytes(n.sid, n.fid, n.messages);
      // ids start right after the 4-byte length and the 5-byte header
      const ids = Buffer.from([...varint(n.sid), ...varint(n.fid)]);
      const idStart = 9;
      const payload = 9 + ids.length;
      const need = a.reserveFor(ids.length, f.length - payload, maxFrame);
      const dst = Buffer.alloc(offset + need, 0xee);
      const w = a.answer(f, idStart, payload, f.length, dst, offset, now(), maxFrame);
      const verdicts = expectedVerdicts(n.messages, judge);
      const ackLen = 5 + ids.length + verdicts.length * BANNED_ACTION_BYTES;
      if (ackLen > maxFrame) {
        assert.equal(w, -2);
        return;
      }
      assert.equal(w, offset + 4 + ackLen);
      const [ack] = parseAgentOutput(dst.subarray(offset, w));
      assert.equal(ack.type, 103);
      assert.deepEqual(ack.idBytes, ids);
      assert.equal(dst[w], 0xee, 'nothing written past the ACK');
      assert.equal(parseActions(ack.payload).length, verdicts.length);
    }),
    RUNS,
  );
});
