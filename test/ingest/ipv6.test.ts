import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { test } from 'node:test';
import { parseListenAddress, transports } from '../../src/main/syslog/address.js';
import { RecordingSink, startIngest, waitFor } from './harness.js';

test('IPv6 listeners: UDP and TCP on [::1]', async () => {
  const sink = new RecordingSink();
  const { svc } = await startIngest(sink, (c) => {
    c.syslog.address = '[::1]:0';
    c.syslog.protocol = 'both';
  });
  try {
    const line = '<38>Nov 24 10:00:00 gw sshd[1]: Invalid user u from 2001:db8:9::1 port 22';
    await new Promise<void>((resolve, reject) => {
      const s = createSocket('udp6');
      s.send(line, svc.udpPort, '::1', (err) => {
        s.close();
        if (err) reject(err);
        else resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port: svc.tcpPort, host: '::1' }, () => c.end(`${line.replace('::1 ', '::2 ')}\n`));
      c.on('error', reject);
      c.on('close', () => resolve());
    });
    await waitFor(() => svc.stats.udpLines + svc.stats.tcpLines >= 2);
    await svc.drain();
    assert.deepEqual(sink.failures.map((f) => f.ip).sort(), ['2001:db8:9::1', '2001:db8:9::2']);
  } finally {
    await svc.stop();
  }
});

test('syslog.address and syslog.protocol forms', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:514'), { host: '127.0.0.1', port: 514 });
  assert.deepEqual(parseListenAddress('[::]:5514'), { host: '::', port: 5514 });
  assert.deepEqual(parseListenAddress('::1'), { host: '::1', port: 514 });
  assert.deepEqual(parseListenAddress(':514'), { host: '0.0.0.0', port: 514 });
  assert.throws(() => parseListenAddress('1.2.3.4:99999'), /bad port/);
  assert.deepEqual(transports('udp4'), { udp: true, tcp: false });
  assert.deepEqual(transports('udp6'), { udp: true, tcp: false });
  assert.deepEqual(transports('TCP'), { udp: false, tcp: true });
  assert.deepEqual(transports('both'), { udp: true, tcp: true });
  assert.throws(() => transports('sctp'), /expected udp, tcp or both/);
});
