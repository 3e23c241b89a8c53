import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotifyAnswerer } from '../../src/main/spoa/notify.js';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { type Arg, type Message, notifyBytes, parseActions, parseAgentOutput, type Value } from './model.js';

/**
 * The `service` message argument, case by case: a table with a global ban (127.0.0.2), an imap
 * ban (127.0.0.5, 2001:db8::5) and a smtp ban (127.0.0.6); every NOTIFY through the answerer
 * and its ACK decoded.
 */

const now = Math.floor(Date.now() / 1000);
const table = new BanTable();
const imap = table.services.register('imap');
const smtp = table.services.register('smtp');
const reason = table.reasonId('t');
{
  const g = parseIp('127.0.0.2');
  table.set(g.bytes, 4, 32, Kind.TEMP_BAN, now + 600, 1, reason);
  for (const [ip, id] of [
    ['127.0.0.5', imap],
    ['2001:db8::5', imap],
    ['127.0.0.6', smtp],
  ] as const) {
    const a = parseIp(ip);
    table.setScoped(id, a.bytes, a.family, a.family === 4 ? 32 : 128, now + 600, 1, reason);
  }
}
const answerer = new NotifyAnswerer(
  table,
  { scope: 2, setReason: false, setTtl: false },
  () => '',
  table.services,
);

const b = (s: string) => Buffer.from(s, 'latin1');
const arg = (name: string, value: Value): Arg => ({ name: b(name), value });
const str = (s: string): Value => ({ t: 'string', b: b(s) });
const v4 = (ip: string): Value => ({ t: 'ipv4', b: parseIp(ip).bytes });
const msg = (...args: Arg[]): Message => ({ name: b('check-ip'), args });

/** The `banned` values of the ACK for these messages, in order. */
function verdicts(...messages: Message[]): number[] {
  const f = notifyBytes(1n, 1n, messages);
  const dst = Buffer.alloc(answerer.reserveFor(2, f.length - 11, 16384));
  const w = answerer.answer(f, 9, 11, f.length, dst, 0, now, 16384);
  assert.ok(w > 0, `answer returned ${w}`);
  const [ack] = parseAgentOutput(dst.subarray(0, w));
  assert.equal(ack.type, 103);
  return parseActions(ack.payload).map((a) => Number((a.value as { v: bigint }).v));
}

test('a scoped ban refuses its own service and a request naming none, and no other service', () => {
  assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.5')), arg('service', str('imap')))), [1]);
  assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.5')))), [1]);
  assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.5')), arg('service', str('smtp')))), [0]);
  assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.6')), arg('service', str('smtp')))), [1]);
  assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.6')), arg('service', str('imap')))), [0]);
});

test('a global ban refuses every service, named or unknown', () => {
  for (const s of ['imap', 'smtp', 'http', '', 'x'.repeat(200)])
    assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.2')), arg('service', str(s)))), [1], s);
});

test('the argument is found in any position and compared without regard to case', () => {
  assert.deepEqual(verdicts(msg(arg('service', str('IMAP')), arg('src', v4('127.0.0.5')))), [1]);
  assert.deepEqual(
    verdicts(msg(arg('path', str('/')), arg('service', str('Smtp')), arg('src_ip', v4('127.0.0.5')))),
    [0],
  );
  // a STRING address and an IPv6 one take the service as well
  assert.deepEqual(verdicts(msg(arg('service', str('smtp')), arg('src', str('127.0.0.5')))), [0]);
  assert.deepEqual(verdicts(msg(arg('service', str('imap')), arg('src', str('127.0.0.5')))), [1]);
  assert.deepEqual(
    verdicts(msg(arg('service', str('smtp')), arg('src', { t: 'ipv6', b: parseIp('2001:db8::5').bytes }))),
    [0],
  );
  assert.deepEqual(
    verdicts(msg(arg('service', str('imap')), arg('src', { t: 'ipv6', b: parseIp('2001:db8::5').bytes }))),
    [1],
  );
});

test('an unknown or too-long service sees only the bans that cover every service', () => {
  for (const s of ['pop3', 'imap ', 'imapimap', 'i'.repeat(33), 'imap'.repeat(60)]) {
    assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.5')), arg('service', str(s)))), [0], s);
    assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.9')), arg('service', str(s)))), [0], s);
  }
});

test('a service argument of another type, or an empty one, names no service: every ban counts', () => {
  const others: Value[] = [
    { t: 'null' },
    { t: 'bool', v: true },
    { t: 'uint32', v: 7n },
    { t: 'int64', v: -1n },
    { t: 'binary', b: b('smtp') },
    { t: 'ipv4', b: parseIp('10.0.0.1').bytes },
    str(''),
  ];
  for (const v of others) {
    // an IPV4 value named "service" is an address argument too: put the real one first
    assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.5')), arg('service', v))), [1], v.t);
    assert.deepEqual(verdicts(msg(arg('src', v4('127.0.0.9')), arg('service', v))), [0], v.t);
  }
});

test('the first service argument decides', () => {
  assert.deepEqual(
    verdicts(msg(arg('service', str('smtp')), arg('service', str('imap')), arg('src', v4('127.0.0.5')))),
    [0],
  );
  assert.deepEqual(
    verdicts(
      msg(arg('service', { t: 'uint32', v: 1n }), arg('service', str('smtp')), arg('src', v4('127.0.0.5'))),
    ),
    [1],
  );
});

test('each message of a NOTIFY is judged for its own service; one banned message stays banned', () => {
  const free = msg(arg('src', v4('127.0.0.5')), arg('service', str('smtp')));
  const banned = msg(arg('src', v4('127.0.0.5')), arg('service', str('imap')));
  assert.deepEqual(verdicts(free, banned), [0, 1]);
  // once banned, a later allowed message writes nothing over it
  assert.deepEqual(verdicts(banned, free), [1]);
  assert.deepEqual(verdicts(free, free), [0, 0]);
});

test('without a service registry every ban counts, whatever the message names', () => {
  const plain = new NotifyAnswerer(table, { scope: 2, setReason: false, setTtl: false }, () => '');
  const f = notifyBytes(1n, 1n, [msg(arg('src', v4('127.0.0.5')), arg('service', str('smtp')))]);
  const dst = Buffer.alloc(plain.reserveFor(2, f.length - 11, 16384));
  const w = plain.answer(f, 9, 11, f.length, dst, 0, now, 16384);
  const [ack] = parseAgentOutput(dst.subarray(0, w));
  assert.deepEqual(
    parseActions(ack.payload).map((a) => Number((a.value as { v: bigint }).v)),
    [1],
  );
});
