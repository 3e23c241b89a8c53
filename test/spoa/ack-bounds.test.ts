import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpoaConnection } from '../../src/main/spoa/connection.js';
import { NotifyAnswerer } from '../../src/main/spoa/notify.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { fakeHost, fakeSocket } from './fake.js';
import {
  BANNED_ACTION_BYTES,
  disconnectCode,
  helloBytes,
  type Message,
  notifyBytes,
  parseActions,
  parseAgentOutput,
} from './model.js';

const unnamedIpv4 = (n: number): Message[] =>
  Array.from({ length: n }, () => ({
    name: new Uint8Array(0),
    args: [{ name: new Uint8Array(0), value: { t: 'ipv4', b: Buffer.from([10, 0, 0, 1]) } }],
  }));

async function run(
  bytes: Buffer[],
  answerer = new NotifyAnswerer(new BanTable(), { scope: 1, setReason: false, setTtl: false }, () => ''),
) {
  const written: Buffer[] = [];
  const host = fakeHost(answerer);
  const sock = fakeSocket(written);
  const conn = new SpoaConnection(sock as never, host, Date.now());
  for (const b of bytes) sock.emit('data', b);
  await new Promise((r) => setImmediate(r));
  return { frames: parseAgentOutput(Buffer.concat(written)), host, conn, sock };
}

test('a NOTIFY of 700 unnamed IPv4 messages gets an exact ACK of 700 actions (8-byte messages, 12-byte actions)', async () => {
  const { frames } = await run([helloBytes(16380), notifyBytes(7n, 1n, unnamedIpv4(700))]);
  assert.equal(frames.length, 2);
  const ack = frames[1];
  assert.equal(ack.type, 103);
  assert.equal(ack.size, 4 + 7 + 700 * BANNED_ACTION_BYTES);
  const actions = parseActions(ack.payload);
  assert.equal(actions.length, 700);
  for (const a of actions) assert.deepEqual([a.name, a.value], ['banned', { t: 'uint32', v: 0n }]);
});

test('a NOTIFY whose verdicts exceed max-frame-size is answered "frame is too big" (3), never a cut ACK', async () => {
  // 1,400 messages: an 11 KB NOTIFY that fits 16380, a 16.8 KB ACK that does not
  const { frames, host } = await run([
    helloBytes(16380),
    notifyBytes(1n, 1n, unnamedIpv4(10)),
    notifyBytes(2n, 1n, unnamedIpv4(1400)),
  ]);
  assert.deepEqual(
    frames.map((f) => f.type),
    [101, 103, 102],
  );
  assert.equal(parseActions(frames[1].payload).length, 10);
  assert.equal(disconnectCode(frames[2].payload), 3);
  assert.deepEqual(host.statuses, [3]);
});

test('an exception while handling a read closes that connection with status 99, is reported, and does not propagate', async () => {
  const exploding = new NotifyAnswerer(
    new BanTable(),
    { scope: 1, setReason: false, setTtl: false },
    () => '',
  );
  exploding.answer = () => {
    throw new Error('codec bug');
  };
  const { frames, host, conn, sock } = await run(
    [helloBytes(16380), notifyBytes(1n, 1n, unnamedIpv4(1))],
    exploding,
  );
  assert.deepEqual(
    frames.map((f) => f.type),
    [101, 102],
  );
  assert.equal(disconnectCode(frames[1].payload), 99);
  assert.equal(host.crashes.length, 1);
  assert.equal((host.crashes[0] as Error).message, 'codec bug');
  assert.equal(host.closed, 1, 'the slot is released');
  assert.ok(!conn.ready);
  assert.ok(sock.ended);
  // later bytes on the closed connection are ignored, not handled again
  sock.emit('data', notifyBytes(2n, 1n, unnamedIpv4(1)));
  assert.equal(host.crashes.length, 1);
});

test('the first read of a loop turn is answered in that turn; later reads of the turn share one write', async () => {
  const written: Buffer[] = [];
  const sock = fakeSocket(written);
  const answerer = new NotifyAnswerer(
    new BanTable(),
    { scope: 1, setReason: false, setTtl: false },
    () => '',
  );
  new SpoaConnection(sock as never, fakeHost(answerer), Date.now());
  sock.emit('data', helloBytes(16380));
  assert.equal(written.length, 1, 'AGENT-HELLO at once');
  await new Promise((r) => setImmediate(r));
  // window 1: one NOTIFY, its ACK before the handler returns
  sock.emit('data', notifyBytes(1n, 1n, unnamedIpv4(1)));
  assert.equal(written.length, 2);
  // under load: further reads of the same turn are batched
  sock.emit('data', notifyBytes(2n, 1n, unnamedIpv4(1)));
  sock.emit('data', notifyBytes(3n, 1n, unnamedIpv4(1)));
  assert.equal(written.length, 2);
  await new Promise((r) => setImmediate(r));
  assert.equal(written.length, 3);
  assert.deepEqual(
    parseAgentOutput(written[2]).map((f) => f.sid),
    [2n, 3n],
  );
  // a new turn answers at once again
  sock.emit('data', notifyBytes(4n, 1n, unnamedIpv4(1)));
  assert.equal(written.length, 4);
});

test('a NOTIFY whose first address is banned and a later one allowed leaves `banned` set (HAProxy keeps the last write)', async () => {
  const table = new BanTable();
  table.set(new Uint8Array([10, 0, 0, 9]), 4, 32, Kind.BLACKLIST, 0, 1, 0);
  const answerer = new NotifyAnswerer(table, { scope: 1, setReason: false, setTtl: false }, () => '');
  const msg = (last: number): Message => ({
    name: Buffer.from('check-client-ip'),
    args: [{ name: Buffer.from('src'), value: { t: 'ipv4', b: Buffer.from([10, 0, 0, last]) } }],
  });
  const { frames } = await run(
    [
      helloBytes(16380),
      notifyBytes(1n, 1n, [msg(9), msg(1)]),
      notifyBytes(2n, 1n, [msg(1), msg(9)]),
      notifyBytes(3n, 1n, [msg(1), msg(2)]),
    ],
    answerer,
  );
  const values = frames.slice(1).map((f) => parseActions(f.payload).map((a) => a.value));
  assert.deepEqual(values, [
    [{ t: 'uint32', v: 1n }],
    [
      { t: 'uint32', v: 0n },
      { t: 'uint32', v: 1n },
    ],
    [
      { t: 'uint32', v: 0n },
      { t: 'uint32', v: 0n },
    ],
  ]);
});
