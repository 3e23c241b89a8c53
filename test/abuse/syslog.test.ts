import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dovecotLine, type EdgeProcess, sendLines, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

/** Hostile or odd syslog senders against a running `edgeban serve`; each bounded in time. */

let edge: EdgeProcess;

before(async () => {
  edge = await startEdge(tempDir('edgeban-abuse-syslog-'), {
    FAIL2BAN_SYSLOG_PROTOCOL: 'both',
    FAIL2BAN_WORKERS_COUNT: '1',
  });
  await edge.waitFor(/Syslog reader started/);
});
after(async () => {
  if (edge.proc.exitCode === null) edge.proc.kill('SIGTERM');
  await edge.exited;
});

const banned = (ip: string) =>
  edge.waitFor(new RegExp(`"ip":"${ip.replace(/\./g, '\\.')}"[^\\n]*"IP banned"`), 8000);

function tcp(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(edge.syslog, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

const write = (s: Socket, data: string | Buffer) =>
  new Promise<void>((resolve, reject) => s.write(data, (e) => (e ? reject(e) : resolve())));

/** rsyslog's file format (RSYSLOG_FileFormat): RFC 3339 time, host, tag; no PRI. */
const fileFormat = (ip: string) =>
  `${new Date().toISOString()} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): ` +
  `user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;

async function rss(): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${edge.metrics}/metrics`).then((r) => r.text());
  const m = /^process_resident_memory_bytes (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('abuse of the syslog receivers', () => {
  test('a newline-framed TCP sender whose lines start with a digit gets its failures banned', async () => {
    const s = await tcp();
    for (let i = 0; i < 5; i++) await write(s, `${fileFormat('198.51.100.61')}\n`);
    await banned('198.51.100.61');
    assert.equal(s.destroyed, false, 'the connection stays open');
    s.destroy();
  });

  test('an endless TCP line without newline is cut, memory stays bounded, the stream recovers', async () => {
    const before = await rss();
    const s = await tcp();
    s.on('error', () => {});
    const mb = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < 64; i++) await write(s, mb);
    // the over-long line ends; what follows is read normally
    await write(s, '\n');
    for (let i = 0; i < 5; i++) await write(s, `${dovecotLine('198.51.100.62')}\n`);
    await banned('198.51.100.62');
    const grown = (await rss()) - before;
    assert.ok(grown < 48 * 1024 * 1024, `64 MB of one line grew the process by ${grown} bytes`);
    s.destroy();
  });

  test('garbage UDP datagrams neither crash nor stall the receiver', async () => {
    const u = createSocket('udp4');
    let seed = 0x5eed;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(rnd() % 1400);
      for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
      if (i % 3 === 0) b.write('<13>1 ', 0); // half-plausible headers too
      await new Promise<void>((r) => u.send(b, edge.syslog, '127.0.0.1', () => r()));
    }
    u.close();
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => dovecotLine('198.51.100.63')),
    );
    await banned('198.51.100.63');
    assert.equal(edge.proc.exitCode, null);
  });

  test('a broken octet-counting frame closes that connection only, logged once per peer', async () => {
    const lines = () =>
      edge
        .out()
        .split('\n')
        .filter((l) => l.includes('broken octet-counting frame')).length;
    const seen = lines();
    for (let i = 0; i < 5; i++) {
      const s = await tcp();
      s.on('error', () => {});
      const closed = new Promise((r) => s.once('close', r));
      s.write('12 <13>t: hello!x<13>broken');
      await closed;
    }
    const s = await tcp();
    for (let i = 0; i < 5; i++) {
      const m = dovecotLine('198.51.100.64');
      await write(s, `${Buffer.byteLength(m)} ${m}`);
    }
    await banned('198.51.100.64');
    s.destroy();
    assert.equal(lines() - seen, 1, 'one line for five broken streams from one peer');
  });
});
