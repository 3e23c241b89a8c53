import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Core, createCore } from '../../src/main/core.js';
import type { IngestService } from '../../src/main/ingest/service.js';
import { peerMissing } from '../helpers/peers.js';
import { sendWithLogger, startIngest, waitFor } from './harness.js';

const noLogger = peerMissing('logger');

const dovecot = (ip: string) =>
  `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1, TLS`;

describe('logger → receiver → pool → engine → ban table', { skip: noLogger }, () => {
  let svc: IngestService;
  let eng: Core;

  before(async () => {
    const { defaultConfig } = await import('../../src/main/config/defaults.js');
    const cfg = defaultConfig();
    cfg.ban.ignore_ips = ['127.0.0.0/8', '::1/128', '203.0.113.99/32'];
    eng = createCore({ config: cfg, nodeId: 'test' });
    ({ svc } = await startIngest(eng.engine));
  });
  after(async () => {
    await svc?.stop();
  });

  const send = async (ip: string, n: number, transport: 'udp' | 'tcp', format: 'rfc3164' | 'rfc5424') => {
    const base = svc.stats.udpLines + svc.stats.tcpLines;
    for (let i = 0; i < n; i++)
      await sendWithLogger(
        transport === 'udp' ? svc.udpPort : svc.tcpPort,
        transport,
        format,
        'dovecot',
        dovecot(ip),
      );
    await waitFor(() => svc.stats.udpLines + svc.stats.tcpLines >= base + n);
    await svc.drain();
  };

  test('five Dovecot failures from one address (UDP, RFC 3164) → banned', async () => {
    assert.equal(eng.isBanned('198.51.100.5'), false);
    await send('198.51.100.5', 5, 'udp', 'rfc3164');
    assert.equal(eng.isBanned('198.51.100.5'), true);
  });

  test('five over TCP with RFC 5424 → banned', async () => {
    await send('198.51.100.6', 5, 'tcp', 'rfc5424');
    assert.equal(eng.isBanned('198.51.100.6'), true);
  });

  test('four failures → not banned', async () => {
    await send('198.51.100.4', 4, 'udp', 'rfc5424');
    assert.equal(eng.isBanned('198.51.100.4'), false);
  });

  test('an ignored (whitelisted) address is never banned', async () => {
    await send('203.0.113.99', 8, 'udp', 'rfc3164');
    assert.equal(eng.isBanned('203.0.113.99'), false);
  });

  test('an IPv6 attacker rotating inside one /64 is banned as the prefix', async () => {
    for (let i = 1; i <= 5; i++) await send(`2001:db8:42:7::${i.toString(16)}`, 1, 'udp', 'rfc3164');
    assert.equal(eng.isBanned('2001:db8:42:7::1'), true);
    // an address of the same /64 that never failed is covered too; the next /64 is not
    assert.equal(eng.isBanned('2001:db8:42:7:ffff::1'), true);
    assert.equal(eng.isBanned('2001:db8:42:8::1'), false);
  });
});
