import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { createCore } from '../../src/main/core.js';
import { decodeMessage, encodeMessages, type FleetEvent, fleetKey } from '../../src/main/fleet/messages.js';
import { LookupResult, Verdict } from '../../src/shared/bantable/index.js';
import { jail } from '../helpers/jails.js';

const KEY = fleetKey('s3cret');
const HOUR = 3_600_000;

test('a jail ban travels with its jail and services, an unban with its jail', () => {
  const now = Date.now();
  const events: FleetEvent[] = [
    {
      type: 'ban',
      record: {
        target: '192.0.2.50',
        kind: 'temp',
        reason: '5 failures (dovecot)',
        pattern: 'dovecot',
        createdAt: now,
        expiresAt: now + HOUR,
        createdBy: 'engine',
        offences: 1,
        node: 'a',
        jail: 'mail',
        services: ['imap', 'smtp'],
      },
    },
    { type: 'unban', target: '192.0.2.51', kind: 'temp', by: 'api', reason: '', at: now, jail: 'sshd' },
  ];
  const [payload] = encodeMessages(KEY, 'a', events, now);
  assert.deepEqual(decodeMessage(KEY, payload, now).events, events);
});

test('a bad service name or jail in a fleet message is refused whole', () => {
  const now = Date.now();
  const body = (item: unknown) => JSON.stringify({ v: 1, node: 'a', at: now, events: [item] });
  const signed = (b: string) => `${createHmac('sha256', KEY).update(b).digest('base64url')}.${b}`;
  const base = ['b', '192.0.2.52', 'temp', 'r', null, now, now + HOUR, 'engine', 1];
  assert.throws(
    () => decodeMessage(KEY, signed(body([...base, 'mail', ['no spaces']])), now),
    /bad service name/,
  );
  assert.throws(() => decodeMessage(KEY, signed(body([...base, '', []])), now), /bad jail/);
});

test('a remote scoped ban applies with its scope; the remote unban of its jail lifts it', () => {
  let clock = Date.UTC(2026, 10, 24);
  const { table, engine } = createCore({ nodeId: 'b', now: () => clock });
  engine.setJails([jail('mail', { services: ['imap', 'smtp'] })]);
  const out = new LookupResult();
  const check = (svc: string) =>
    table.checkString('192.0.2.53', Math.floor(clock / 1000), out, table.services.lookup(svc)) ===
    Verdict.DENY;
  assert.ok(
    engine.applyRemote({
      type: 'ban',
      record: {
        target: '192.0.2.53',
        kind: 'temp',
        reason: 'x',
        pattern: 'dovecot',
        createdAt: clock,
        expiresAt: clock + HOUR,
        createdBy: 'engine',
        offences: 1,
        node: 'a',
        jail: 'mail',
        services: ['imap', 'smtp'],
      },
    }),
  );
  assert.ok(check('imap'));
  assert.equal(check('http'), false);
  assert.equal(engine.list('temp', {}).items[0].jail, 'mail');
  clock += 1000;
  assert.ok(
    engine.applyRemote({
      type: 'unban',
      target: '192.0.2.53',
      kind: 'temp',
      by: 'a',
      reason: '',
      at: clock,
      jail: 'mail',
    }),
  );
  assert.equal(check('imap'), false);
});
