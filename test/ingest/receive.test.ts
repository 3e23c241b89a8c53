import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { IngestService } from '../../src/main/ingest/service.js';
import { peerMissing } from '../helpers/peers.js';
import { RecordingSink, sendWithLogger, startIngest, type testContext, waitFor } from './harness.js';

const noLogger = peerMissing('logger');

function udpSend(port: number, data: Buffer | string, from = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.bind(0, from, () => {
      s.send(data, port, '127.0.0.1', (err) => {
        s.close();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}

describe('syslog receivers → matcher pool → failures', () => {
  const sink = new RecordingSink();
  let svc: IngestService;
  let ctx: ReturnType<typeof testContext>;

  before(async () => {
    ({ svc, ctx } = await startIngest(sink, (c) => {
      c.syslog.max_line_length = 1024;
    }));
    assert.ok(svc.udpPort > 0 && svc.tcpPort > 0);
  });
  after(async () => {
    await svc.stop();
  });

  const settle = async (lines: number) => {
    await waitFor(() => svc.stats.udpLines + svc.stats.tcpLines >= lines);
    await svc.drain();
  };

  test('logger: RFC 3164 and RFC 5424 over UDP and TCP', { skip: noLogger }, async () => {
    sink.failures.length = 0;
    const base = svc.stats.udpLines + svc.stats.tcpLines;
    const msg = (ip: string) =>
      `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
    await sendWithLogger(svc.udpPort, 'udp', 'rfc3164', 'dovecot', msg('203.0.113.1'));
    await sendWithLogger(svc.udpPort, 'udp', 'rfc5424', 'dovecot', msg('203.0.113.2'));
    await sendWithLogger(svc.tcpPort, 'tcp', 'rfc3164', 'dovecot', msg('2001:db8::3'));
    await sendWithLogger(svc.tcpPort, 'tcp', 'rfc5424', 'dovecot', msg('203.0.113.4'), ['--octet-count']);
    await settle(base + 4);
    assert.deepEqual(sink.failures.map((f) => `${f.pattern} ${f.ip}`).sort(), [
      'dovecot-auth-failed 2001:db8::3',
      'dovecot-auth-failed 203.0.113.1',
      'dovecot-auth-failed 203.0.113.2',
      'dovecot-auth-failed 203.0.113.4',
    ]);
    // live lines use receive time
    for (const f of sink.failures) assert.ok(Math.abs(f.timeMs - Date.now()) < 60_000);
    const metrics = await ctx.metrics.registry.getMetricsAsJSON();
    const m = metrics.find((x) => x.name === 'fail2ban_pattern_matches_total');
    const v = m?.values.find((x) => x.labels.pattern === 'dovecot-auth-failed');
    assert.ok(v && v.value >= 4);
  });

  test('several lines per datagram are split', async () => {
    sink.failures.length = 0;
    const base = svc.stats.udpLines + svc.stats.tcpLines;
    await udpSend(
      svc.udpPort,
      '<38>Nov 24 16:05:51 gw sshd[9]: Failed password for root from 198.51.100.1 port 22 ssh2\n' +
        '<38>Nov 24 16:05:51 gw sshd[9]: Accepted password for root from 198.51.100.2 port 22 ssh2\n' +
        '<38>Nov 24 16:05:51 gw sshd[9]: Invalid user x from 198.51.100.3 port 22\n',
    );
    await settle(base + 3);
    assert.deepEqual(
      sink.failures.map((f) => f.ip),
      ['198.51.100.1', '198.51.100.3'],
    );
  });

  test('a sender outside allowed_sources changes nothing (UDP from 127.0.0.2, TCP from 127.0.0.2)', async () => {
    sink.failures.length = 0;
    const before = { ...svc.stats };
    await udpSend(
      svc.udpPort,
      '<38>Nov 24 16:05:51 gw sshd[9]: Invalid user x from 198.51.100.9 port 22',
      '127.0.0.2',
    );
    await waitFor(() => svc.stats.rejectedUdp === before.rejectedUdp + 1);
    await new Promise<void>((resolve) => {
      const c = connect({ port: svc.tcpPort, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
        c.write('<38>Nov 24 16:05:51 gw sshd[9]: Invalid user x from 198.51.100.9 port 22\n');
      });
      c.on('error', () => resolve());
      c.on('close', () => resolve());
    });
    await waitFor(() => svc.stats.rejectedTcp === before.rejectedTcp + 1);
    await svc.drain();
    assert.equal(svc.stats.udpLines, before.udpLines);
    assert.equal(svc.stats.tcpLines, before.tcpLines);
    assert.equal(sink.failures.length, 0);
    assert.ok(
      ctx.logLines.some(
        (l) => l.msg === 'syslog sender outside syslog.allowed_sources dropped' && l.peer === '127.0.0.2',
      ),
    );
  });

  test('oversized and binary garbage datagrams are counted and the receiver keeps serving', async () => {
    sink.failures.length = 0;
    const before = { ...svc.stats };
    // the address sits past the 1024-byte limit: cut, counted, not matched
    await udpSend(
      svc.udpPort,
      `<38>Nov 24 16:05:51 gw sshd[9]: Invalid user ${'x'.repeat(2000)} from 198.51.100.7 port 22`,
    );
    await udpSend(svc.udpPort, Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10, 0xc3, 0x28, 60, 62, 0]));
    await udpSend(svc.udpPort, Buffer.alloc(60_000, 0x41));
    await udpSend(svc.udpPort, '<38>Nov 24 16:05:51 gw sshd[9]: Invalid user y from 198.51.100.8 port 22');
    await settle(before.udpLines + before.tcpLines + 5);
    assert.equal(svc.stats.truncated - before.truncated, 2);
    assert.ok(
      svc.stats.parseFailures - before.parseFailures >= 3,
      `parse failures ${svc.stats.parseFailures}`,
    );
    assert.deepEqual(
      sink.failures.map((f) => f.ip),
      ['198.51.100.8'],
    );
    const text = await ctx.metrics.registry.metrics();
    assert.match(text, /edgeban_syslog_truncated_total [1-9]/);
    assert.match(text, /edgeban_syslog_parse_failures_total [1-9]/);
    assert.match(text, /edgeban_syslog_rejected_sources_total\{transport="udp"\} [1-9]/);
  });

  test('TCP: octet counting and LF framing, frames split across writes', async () => {
    sink.failures.length = 0;
    const base = svc.stats.udpLines + svc.stats.tcpLines;
    const l1 = '<38>1 2026-11-24T16:05:51Z gw sshd 9 - - Invalid user a from 198.51.100.11 port 22';
    const l2 = '<38>Nov 24 16:05:51 gw sshd[9]: Invalid user b from 2001:db8::12 port 22';
    const octet = Buffer.from(`${Buffer.byteLength(l1)} ${l1}${Buffer.byteLength(l2)} ${l2}`);
    const lf = Buffer.from(`${l2.replace('::12', '::13')}\n${l1.replace('.11', '.14')}\n`);
    for (const data of [octet, lf]) {
      await new Promise<void>((resolve, reject) => {
        const c = connect({ port: svc.tcpPort, host: '127.0.0.1' }, async () => {
          for (let i = 0; i < data.length; i += 7) {
            c.write(data.subarray(i, i + 7));
            await new Promise((r) => setTimeout(r, 1));
          }
          c.end();
        });
        c.on('error', reject);
        c.on('close', () => resolve());
      });
    }
    await settle(base + 4);
    assert.deepEqual(
      sink.failures.map((f) => f.ip),
      ['198.51.100.11', '2001:db8::12', '2001:db8::13', '198.51.100.14'],
    );
  });

  test('new patterns reach the workers without a restart', async () => {
    sink.failures.length = 0;
    const base = svc.stats.udpLines + svc.stats.tcpLines;
    const line = '<38>Nov 24 16:05:51 app myapp[1]: bad token from 192.0.2.77';
    await udpSend(svc.udpPort, line);
    await settle(base + 1);
    assert.equal(sink.failures.length, 0);
    svc.setPatterns([
      {
        name: 'myapp-bad-token',
        regex: '^myapp: bad token from (?P<ip>\\S+)$',
        ip_group: 'ip',
        severity: 2,
        description: '',
        enabled: true,
        raw: false,
      },
    ]);
    await udpSend(svc.udpPort, line);
    await settle(base + 2);
    assert.deepEqual(
      sink.failures.map((f) => `${f.pattern} ${f.ip}`),
      ['myapp-bad-token 192.0.2.77'],
    );
    assert.equal((await ctx.metrics.configPatternsLoaded.get()).values[0].value, 1);
    assert.throws(
      () =>
        svc.setPatterns([
          {
            name: 'bad',
            regex: '(a)\\1(\\S+)',
            ip_group: 2,
            severity: 1,
            description: '',
            enabled: true,
            raw: false,
          },
        ]),
      /pattern "bad"/,
    );
  });
});
