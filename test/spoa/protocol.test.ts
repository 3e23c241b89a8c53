import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SpoaConnection } from '../../src/main/spoa/connection.js';
import { decodeKvList } from '../../src/main/spoa/kvlist.js';
import { startAgent } from './agent.js';
import {
  bare,
  disconnectStatus,
  frame,
  hello,
  hello26,
  helloCheck,
  ipv4,
  notify,
  RawPeer,
  STD_HELLO,
  str,
} from './client.js';
import { fakeHost, fakeSocket } from './fake.js';

const agent = await startAgent({ read_timeout: 400, max_clients: 20 });
agent.ban('127.0.0.2');
agent.ban('2001:db8::bad');
after(() => agent.server.close(200));

const BANNED_ACTION = (v: number) =>
  Buffer.concat([Buffer.from([0x01, 0x03, 0x01]), bare('banned'), Buffer.from([0x03, v])]);

async function ready(): Promise<RawPeer> {
  const p = await RawPeer.open(agent.port);
  p.send(hello26());
  await p.waitFrames(1);
  return p;
}

/** Another connection still gets answers: one client's error never costs the others. */
async function othersStillServed(): Promise<void> {
  const p = await ready();
  p.send(notify(9, 1, [['check-client-ip', [['src', ipv4('127.0.0.2')]]]]));
  const f = await p.waitFrames(2);
  assert.equal(f[1].type, 0x67);
  assert.deepEqual(f[1].payload, BANNED_ACTION(1));
  p.close();
}

async function expectDisconnect(bytes: Buffer, status: number, handshake = true): Promise<void> {
  const p = handshake ? await ready() : await RawPeer.open(agent.port);
  const before = p.frames.length;
  p.send(bytes);
  const frames = await p.waitFrames(before + 1);
  const last = frames[frames.length - 1];
  assert.equal(last.type, 0x66, `expected AGENT-DISCONNECT, got type ${last.type}`);
  assert.equal(disconnectStatus(last.payload), status);
  await p.waitClosed();
  await othersStillServed();
}

test('HAProxy 2.6 HELLO gets AGENT-HELLO with version 2.0, its max-frame-size and pipelining', async () => {
  const p = await RawPeer.open(agent.port);
  p.send(hello26());
  const [f] = await p.waitFrames(1);
  assert.equal(f.type, 0x65);
  assert.equal(f.flags, 1);
  assert.deepEqual(f.idBytes, Buffer.from([0, 0]));
  const kv = decodeKvList(f.payload, 0, f.payload.length);
  assert.equal(kv?.get('version'), '2.0');
  assert.equal(kv?.get('max-frame-size'), 16380);
  assert.equal(kv?.get('capabilities'), 'pipelining');
  p.close();
});

test('a health-check HELLO is answered and the connection closed', async () => {
  const p = await RawPeer.open(agent.port);
  p.send(helloCheck());
  const [f] = await p.waitFrames(1);
  assert.equal(f.type, 0x65);
  await p.waitClosed();
});

test('NOTIFY gets an ACK echoing stream-id and frame-id with banned = 1 or 0', async () => {
  const p = await ready();
  // spop.md §11: the 2.6 NOTIFY of req-msg with ip, path, ua, n=int(-5), b=bool(1), big=int(5000000000)
  const args: [string, Buffer][] = [
    ['ip', ipv4('127.0.0.2')],
    ['path', str('/a')],
    ['ua', str('curl/7.88.1')],
    ['n', Buffer.from('04fbf0fefefefefefefe0e', 'hex')],
    ['b', Buffer.from([0x11])],
    ['big', Buffer.from('04f091bd809400', 'hex')],
  ];
  p.send(notify(0, 2, [['req-msg', args]]));
  p.send(notify(300, 1, [['check-client-ip', [['src', ipv4('127.0.0.1')]]]]));
  const f = await p.waitFrames(3);
  assert.equal(f[1].type, 0x67);
  assert.deepEqual(f[1].idBytes, Buffer.from([0, 2]));
  assert.deepEqual(f[1].payload, BANNED_ACTION(1));
  // exact bytes of an ACK as spop.md §3.6 shows them, with 2-byte sid varint 300
  assert.equal(f[2].raw.toString('hex'), `00000014670000000${1}fc0301` + BANNED_ACTION(0).toString('hex'));
  p.close();
});

test('IPv6, IPv4-mapped and STRING addresses are looked up; NULL and unnamed args are tolerated', async () => {
  const p = await ready();
  const v6 = Buffer.concat([Buffer.from([0x07]), Buffer.from('20010db8000000000000000000000bad', 'hex')]);
  const mapped = Buffer.concat([Buffer.from([0x07]), Buffer.from('00000000000000000000ffff7f000002', 'hex')]);
  p.send(
    notify(1, 1, [
      [
        'check-ip',
        [
          ['', Buffer.from([0x00])],
          ['src_ip', v6],
        ],
      ],
    ]),
  );
  p.send(notify(2, 1, [['m', [['x', mapped]]]]));
  p.send(notify(3, 1, [['check-ip', [['src_ip', str('127.0.0.2')]]]]));
  p.send(notify(4, 1, [['check-ip', [['ip', str('not-an-ip')]]]]));
  p.send(notify(5, 1, [['other', [['path', str('/')]]]]));
  p.send(notify(6, 1, []));
  const f = await p.waitFrames(7);
  assert.deepEqual(f[1].payload, BANNED_ACTION(1));
  assert.deepEqual(f[2].payload, BANNED_ACTION(1));
  assert.deepEqual(f[3].payload, BANNED_ACTION(1));
  assert.equal(f[4].payload.length, 0, 'an unparseable address: ACK without action');
  assert.equal(f[5].payload.length, 0, 'no address: ACK without action');
  assert.equal(f[6].payload.length, 0, 'empty NOTIFY: empty ACK');
  p.close();
});

test('pipelined NOTIFYs coalesced in one write get every ACK, ids matched', async () => {
  const p = await ready();
  const frames: Buffer[] = [];
  for (let i = 0; i < 100; i++)
    frames.push(
      notify(i * 3, 1 + (i % 5), [['check-client-ip', [['src', ipv4(i % 2 ? '127.0.0.2' : '127.0.0.9')]]]]),
    );
  p.send(Buffer.concat(frames));
  const f = await p.waitFrames(101);
  for (let i = 0; i < 100; i++) {
    const ack = f[i + 1];
    assert.equal(ack.type, 0x67);
    const sid = i * 3;
    const sidBytes = sid < 240 ? [sid] : [(sid & 0xff) | 0xf0, (sid - 240) >> 4];
    assert.deepEqual([...ack.idBytes], [...sidBytes, 1 + (i % 5)]);
    assert.deepEqual(ack.payload, BANNED_ACTION(i % 2));
  }
  p.close();
});

test('frames split at every byte boundary decode the same', async () => {
  const stream = Buffer.concat([
    hello26(),
    notify(7, 1, [['check-client-ip', [['src', ipv4('127.0.0.2')]]]]),
    notify(8, 1, [['check-client-ip', [['src', ipv4('127.0.0.1')]]]]),
  ]);
  const expected: string[] = [];
  for (let cut = 0; cut <= stream.length; cut++) {
    const written: Buffer[] = [];
    const sock = fakeSocket(written);
    const conn = new SpoaConnection(sock as never, hostFor(), Date.now());
    conn.onData(stream.subarray(0, cut));
    conn.onData(stream.subarray(cut));
    await new Promise((r) => setImmediate(r)); // ACKs of one loop turn go out together
    const out = Buffer.concat(written).toString('hex');
    if (cut === 0) expected.push(out);
    assert.equal(out, expected[0], `split at ${cut}`);
  }
  assert.ok(expected[0].length > 0);
  // and one byte at a time
  const written: Buffer[] = [];
  const conn = new SpoaConnection(fakeSocket(written) as never, hostFor(), Date.now());
  for (let i = 0; i < stream.length; i++) conn.onData(stream.subarray(i, i + 1));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(written).toString('hex'), expected[0]);
});

test('protocol errors get AGENT-DISCONNECT with the right status, and other connections keep being served', async () => {
  const big = Buffer.alloc(4);
  big.writeUInt32BE(16381); // above the negotiated 16380
  await expectDisconnect(big, 3);
  await expectDisconnect(Buffer.from('00000006030000000100', 'hex'), 4); // length < 7
  await expectDisconnect(Buffer.from('00000000', 'hex'), 4); // zero-length frame
  await expectDisconnect(frame(3, 1, [1], [1], []), 4, false); // NOTIFY before HELLO
  await expectDisconnect(frame(101, 1, [0], [0], []), 4, false); // unknown/agent type before HELLO
  await expectDisconnect(frame(3, 1, [0xf0], [], []), 4); // truncated stream-id varint
  await expectDisconnect(
    frame(
      3,
      1,
      [1],
      [1],
      Buffer.concat([bare('m'), Buffer.from([1]), bare('s'), Buffer.from([0x08, 0x40, 0x41])]),
    ),
    4,
  ); // string past the frame
  await expectDisconnect(
    frame(3, 1, [1], [1], Buffer.concat([bare('m'), Buffer.from([1]), bare('x'), Buffer.from([0x0c])])),
    4,
  ); // typed data 12
  await expectDisconnect(frame(3, 0, [1], [1], []), 10); // FIN missing
  await expectDisconnect(frame(0, 1, [1], [1], []), 10); // type 0 (fragment continuation)
  await expectDisconnect(hello26(), 4); // a second HELLO
  await expectDisconnect(hello(STD_HELLO, 1, 0), 4, false); // HELLO with non-zero stream-id
  await expectDisconnect(hello([['supported-versions', str('2.1')], ...STD_HELLO.slice(1)]), 8, false);
  await expectDisconnect(
    hello([
      ['max-frame-size', Buffer.from([3, 0xfc, 0xf0, 6])],
      ['capabilities', str('')],
    ]),
    5,
    false,
  );
  await expectDisconnect(hello([STD_HELLO[0], STD_HELLO[2]]), 6, false);
  await expectDisconnect(hello([STD_HELLO[0], STD_HELLO[1]]), 7, false);
  await expectDisconnect(
    hello([STD_HELLO[0], ['max-frame-size', Buffer.from([3, 100])], STD_HELLO[2]]),
    9,
    false,
  );
  assert.ok((agent.server.errors.get(4) ?? 0) >= 8);
});

test('unknown frame types after the handshake are ignored; ABORT frames too', async () => {
  const p = await ready();
  p.send(frame(42, 1, [1], [1], [1, 2, 3]));
  p.send(frame(3, 3, [2], [1], Buffer.concat([bare('m'), Buffer.from([1]), bare('src'), ipv4('127.0.0.2')])));
  p.send(notify(3, 1, [['m', [['src', ipv4('127.0.0.2')]]]]));
  const f = await p.waitFrames(2);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(p.frames.length, 2);
  assert.deepEqual(f[1].idBytes, Buffer.from([3, 1]));
  p.close();
});

test('HAPROXY-DISCONNECT is answered with AGENT-DISCONNECT echoing its status', async () => {
  const p = await ready();
  p.send(
    frame(
      2,
      1,
      [0],
      [0],
      Buffer.concat([
        bare('status-code'),
        Buffer.from([0x03, 0x02]),
        bare('message'),
        str('a timeout occurred'),
      ]),
    ),
  );
  const f = await p.waitFrames(2);
  assert.equal(f[1].type, 0x66);
  assert.equal(disconnectStatus(f[1].payload), 2);
  await p.waitClosed();
});

test('a frame left incomplete past read_timeout is cut with status 2 (slowloris)', async () => {
  const p = await ready();
  p.send(notify(1, 1, [['m', [['src', ipv4('127.0.0.2')]]]]).subarray(0, 9));
  const f = await p.waitFrames(2, 4000);
  assert.equal(f[1].type, 0x66);
  assert.equal(disconnectStatus(f[1].payload), 2);
  await p.waitClosed();
  await othersStillServed();
});

test('connections beyond spoa.max_clients are refused cleanly and counted', async () => {
  const peers: RawPeer[] = [];
  for (let i = 0; i < 20; i++) peers.push(await ready());
  const extra = await RawPeer.open(agent.port);
  extra.send(hello26());
  const f = await extra.waitFrames(1);
  assert.equal(f[0].type, 0x66);
  assert.equal(disconnectStatus(f[0].payload), 13);
  await extra.waitClosed();
  assert.ok(agent.server.refused >= 1);
  const text = await agent.metrics.registry.getSingleMetricAsString('edgeban_spoa_connections_refused_total');
  assert.match(text, /edgeban_spoa_connections_refused_total [1-9]/);
  for (const p of peers) p.close();
  await new Promise((r) => setTimeout(r, 100));
  await othersStillServed();
});

test('answers reach Prometheus as fail2ban_requests_total{service="haproxy"}', async () => {
  const text = await agent.metrics.registry.getSingleMetricAsString('fail2ban_requests_total');
  assert.match(text, /fail2ban_requests_total\{service="haproxy",result="denied"\} [1-9]/);
  assert.match(text, /fail2ban_requests_total\{service="haproxy",result="allowed"\} [1-9]/);
});

function hostFor() {
  return fakeHost(agent.server.answerer);
}

test('a failing lookup costs the ACK its actions, never the connection', async () => {
  const { NotifyAnswerer } = await import('../../src/main/spoa/notify.js');
  const throwing = {
    checkV4(): never {
      throw new Error('lookup exploded');
    },
  } as unknown as ConstructorParameters<typeof NotifyAnswerer>[0];
  const answerer = new NotifyAnswerer(throwing, { scope: 1, setReason: false, setTtl: false }, () => '');
  const written: Buffer[] = [];
  const conn = new SpoaConnection(fakeSocket(written) as never, { ...hostFor(), answerer }, Date.now());
  conn.onData(
    Buffer.concat([
      hello26(),
      notify(5, 1, [['check-client-ip', [['src', ipv4('127.0.0.2')]]]]),
      notify(6, 1, [['m', [['src', ipv4('127.0.0.3')]]]]),
    ]),
  );
  await new Promise((r) => setImmediate(r));
  const out = Buffer.concat(written);
  // AGENT-HELLO, then two ACKs with their ids and no action
  const acks: string[] = [];
  let p = 0;
  while (p < out.length) {
    const len = out.readUInt32BE(p);
    if (out[p + 4] === 0x67) acks.push(out.subarray(p, p + 4 + len).toString('hex'));
    p += 4 + len;
  }
  assert.deepEqual(acks, ['000000076700000001' + '0501', '000000076700000001' + '0601']);
  assert.equal(answerer.counters.handlerErrors, 2);
  assert.ok(conn.ready, 'the connection stays up');
});
