import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { BanRecord } from '../../src/main/engine/types.js';
import {
  decodeMessage,
  encodeMessages,
  type FleetEvent,
  FleetMessageError,
  fleetKey,
  MAX_AGE_MS,
  MAX_PAYLOAD,
} from '../../src/main/fleet/messages.js';

const KEY = fleetKey('s3cret');
/** A payload signed with KEY around a hand-written body (what a sender with the key could send). */
const signed = (body: string) => `${createHmac('sha256', KEY).update(body).digest('base64url')}.${body}`;
const refused = (payload: string, reason: RegExp, key = KEY, now = Date.now()) =>
  assert.throws(
    () => decodeMessage(key, payload, now),
    (err: unknown) =>
      err instanceof FleetMessageError && err.code === 'E_FLEET_MESSAGE' && reason.test(err.message),
    payload.slice(0, 120),
  );

const ban = (target: string, over: Partial<BanRecord> = {}): FleetEvent => ({
  type: 'ban',
  record: {
    target,
    kind: 'temp',
    reason: 'Too many failed attempts',
    pattern: 'dovecot-auth-failed',
    createdAt: 1_764_500_000_000,
    expiresAt: 1_764_500_600_000,
    createdBy: 'engine',
    offences: 2,
    node: 'a',
    ...over,
  },
});

test('bans and unbans survive the trip, with the sending node and canonical targets', () => {
  const events: FleetEvent[] = [
    ban('192.0.2.7'),
    ban('2001:DB8:0:0::/64', { kind: 'blacklist', expiresAt: null, pattern: null }),
    { type: 'unban', target: '198.51.100.1', kind: 'temp', by: 'ops', reason: 'false positive', at: 5 },
  ];
  const [payload, ...more] = encodeMessages(KEY, 'edge-1', events);
  assert.equal(more.length, 0);
  const m = decodeMessage(KEY, payload);
  assert.equal(m.node, 'edge-1');
  assert.equal(m.events.length, 3);
  assert.deepEqual(m.events[0], ban('192.0.2.7', { node: 'edge-1' }));
  const bl = m.events[1];
  assert.ok(bl.type === 'ban');
  assert.equal(bl.record.target, '2001:db8::/64');
  assert.equal(bl.record.expiresAt, null);
  assert.deepEqual(m.events[2], events[2]);
});

test('a burst is cut into payloads PostgreSQL accepts, none lost', () => {
  const events = Array.from({ length: 600 }, (_, i) => ban(`10.0.${i >> 8}.${i & 255}`));
  const payloads = encodeMessages(KEY, 'a', events);
  assert.ok(payloads.length > 1);
  for (const p of payloads) assert.ok(Buffer.byteLength(p) <= MAX_PAYLOAD, `${Buffer.byteLength(p)} bytes`);
  const back = payloads.flatMap((p) => decodeMessage(KEY, p).events);
  assert.deepEqual(
    back.map((e) => (e.type === 'ban' ? e.record.target : '')),
    events.map((e) => (e.type === 'ban' ? e.record.target : '')),
  );
  // a long reason is cut, not a reason to exceed the limit
  const [long] = encodeMessages(KEY, 'a', [ban('192.0.2.1', { reason: 'x'.repeat(20_000) })]);
  assert.ok(Buffer.byteLength(long) < MAX_PAYLOAD);
});

test('a payload not signed with the fleet key, altered, or replayed later is refused', () => {
  const [good] = encodeMessages(KEY, 'a', [ban('192.0.2.7')], 1_000_000);
  assert.equal(decodeMessage(KEY, good, 1_000_000).events.length, 1);
  refused(good, /bad signature/, fleetKey('another secret'), 1_000_000);
  refused(good.replace('192.0.2.7', '192.0.2.8'), /bad signature/, KEY, 1_000_000);
  refused(good, /too old/, KEY, 1_000_000 + MAX_AGE_MS + 1);
  refused(good, /from the future/, KEY, 1_000_000 - MAX_AGE_MS - 1);
  refused('{"v":1,"node":"a","events":[]}', /not signed/);
});

test('garbage and foreign payloads are refused with a reason', () => {
  const at = Date.now();
  const cases: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['[1,2]', /version/],
    [`{"v":2,"node":"a","at":${at},"events":[]}`, /version 2/],
    [`{"v":1,"at":${at},"events":[]}`, /node/],
    [`{"v":1,"node":"a","at":${at},"events":{}}`, /not a list/],
    [
      `{"v":1,"node":"a","at":${at},"events":[["b","999.1.1.1","temp","r",null,1,2,"e",1]]}`,
      /event 0: invalid target/,
    ],
    [
      `{"v":1,"node":"a","at":${at},"events":[["b","192.0.2.1","forever","r",null,1,2,"e",1]]}`,
      /unknown kind/,
    ],
    [
      `{"v":1,"node":"a","at":${at},"events":[["b","192.0.2.1","temp","r",null,1,null,"e",1]]}`,
      /without expiry/,
    ],
    [`{"v":1,"node":"a","at":${at},"events":[["u","192.0.2.1","temp","ops","r",-1]]}`, /bad field/],
    [`{"v":1,"node":"a","at":${at},"events":[["x","192.0.2.1","temp"]]}`, /unknown event/],
    [`{"v":1,"node":"a","events":[]}`, /too old/],
  ];
  for (const [body, reason] of cases) refused(signed(body), reason);
});
