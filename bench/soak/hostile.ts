/**
 * The soak's hostile clients: per TCP port, idle connections, slow senders (a byte of a
 * plausible request every 500 ms), garbage senders (4 KiB of random bytes every 250 ms) and
 * partial senders (a header announcing a huge body, then silence); per UDP port, garbage
 * datagrams. Each reconnects 250 ms after the server closes it. Bounded: fixed count, fixed
 * bytes per interval.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

export type HostileKind = 'idle' | 'slow' | 'garbage' | 'partial';
export type Protocol = 'spop' | 'http' | 'h2' | 'syslog';

/** 10 per port: 3 idle, 3 slow, 2 garbage, 2 partial. */
export const KINDS: HostileKind[] = [
  'idle',
  'idle',
  'idle',
  'slow',
  'slow',
  'slow',
  'garbage',
  'garbage',
  'partial',
  'partial',
];

function plausible(proto: Protocol): Buffer {
  switch (proto) {
    case 'http':
      return Buffer.from(
        'GET /auth HTTP/1.1\r\nHost: soak\r\nX-Original-IP: 192.0.2.1\r\nX-Padding: ' + 'a'.repeat(200),
      );
    case 'h2':
      return Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + 'b'.repeat(200));
    case 'spop':
      return Buffer.concat([Buffer.from([0, 0, 0, 200, 1, 0, 0, 0, 1, 0, 0]), Buffer.alloc(200, 7)]);
    case 'syslog':
      return Buffer.from('<38>Dec  2 12:00:00 mail dovecot: ' + 'c'.repeat(300));
  }
}

function partialHeader(proto: Protocol): Buffer {
  switch (proto) {
    case 'http':
      return Buffer.from('POST /api/ban HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000000\r\n\r\n{"ip_');
    case 'h2':
      // the preface, then a frame header announcing 16 MiB of DATA
      return Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]),
      ]);
    case 'spop':
      return Buffer.from([0x00, 0xff, 0xff, 0xff, 1, 0, 0]);
    case 'syslog':
      return Buffer.from('99999999 <38>Dec  2 12:00:00 mail dovecot: partial');
  }
}

export interface HostileStats {
  connects: number;
  closedByServer: number;
  bytes: number;
}

class HostileClient {
  private sock: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private offset = 0;
  private stopped = false;

  constructor(
    private readonly kind: HostileKind,
    private readonly port: number,
    private readonly proto: Protocol,
    private readonly stats: HostileStats,
  ) {
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.offset = 0;
    const s = connect({ host: '127.0.0.1', port: this.port });
    this.sock = s;
    this.stats.connects++;
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('connect', () => {
      if (this.kind === 'partial') this.write(partialHeader(this.proto));
      if (this.kind === 'slow' || this.kind === 'garbage')
        this.timer = setInterval(() => this.step(), this.kind === 'slow' ? 500 : 250);
    });
    s.on('close', () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.stopped) return;
      this.stats.closedByServer++;
      setTimeout(() => this.open(), 250);
    });
  }

  private write(b: Buffer): void {
    this.stats.bytes += b.length;
    this.sock?.write(b);
  }

  private step(): void {
    if (this.kind === 'garbage') this.write(randomBytes(4096));
    else {
      const p = plausible(this.proto);
      this.write(p.subarray(this.offset % p.length, (this.offset % p.length) + 1));
      this.offset++;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.sock?.destroy();
  }
}

/** Garbage datagrams, one every 100 ms, now and then one of 60 KiB. */
class UdpGarbage {
  private readonly sock: UdpSocket = createSocket('udp4');
  private readonly timer: NodeJS.Timeout;
  private n = 0;

  constructor(port: number, stats: HostileStats) {
    this.sock.on('error', () => {});
    this.timer = setInterval(() => {
      const b = randomBytes(++this.n % 20 === 0 ? 60 * 1024 : 1 + (this.n % 1500));
      stats.bytes += b.length;
      this.sock.send(b, port, '127.0.0.1');
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sock.close();
  }
}

export class HostileCrowd {
  readonly stats: HostileStats = { connects: 0, closedByServer: 0, bytes: 0 };
  private readonly members: { stop(): void }[] = [];

  constructor(tcp: { port: number; proto: Protocol }[], udp: number[], perPort = KINDS.length) {
    for (const { port, proto } of tcp)
      for (let k = 0; k < perPort; k++)
        this.members.push(new HostileClient(KINDS[k % KINDS.length], port, proto, this.stats));
    for (const port of udp)
      for (let k = 0; k < perPort; k++) this.members.push(new UdpGarbage(port, this.stats));
  }

  stop(): void {
    for (const m of this.members) m.stop();
  }
}
