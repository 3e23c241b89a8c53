import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import { type LineBatcher, splitLines } from './batcher.js';
import { SyslogFramer } from './framing.js';
import type { SourceFilter } from './sources.js';
import type { SyslogStats } from './stats.js';

export interface ReceiverDeps {
  /** Where UDP lines go (its sink sheds when the pool is behind). */
  batcher: LineBatcher;
  /** Where TCP lines go (its sink never sheds: TCP connections pause instead). */
  tcpBatcher: LineBatcher;
  stats: SyslogStats;
  /** Read at every datagram/connection so a reload takes effect at once. */
  sources: () => SourceFilter;
  maxLineLength: () => number;
  log: Logger;
  /** True when the matcher pool is behind: TCP connections pause (UDP cannot, it sheds). */
  congested: () => boolean;
  /** Resolves when the pool finished a batch. */
  whenRoom: () => Promise<void>;
}

/** UDP syslog: one datagram may hold several lines. */
export class UdpReceiver {
  private socket: UdpSocket | null = null;
  /** Lines a sender can trigger: once per source and kind a minute, with suppressed counts. */
  private readonly throttle: LogThrottle;

  constructor(private readonly deps: ReceiverDeps) {
    this.throttle = new LogThrottle(deps.log);
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const d = this.deps;
    const st = d.stats;
    if (!d.sources().allows(rinfo.address)) {
      st.rejectedUdp++;
      this.throttle.warn(
        'syslog-source-refused',
        rinfo.address,
        { peer: rinfo.address, transport: 'udp', rejected: st.rejectedUdp },
        'syslog sender outside syslog.allowed_sources dropped',
      );
      return;
    }
    st.udpDatagrams++;
    const r = splitLines(msg, 0, msg.length, d.maxLineLength(), d.batcher);
    st.udpLines += r.lines;
    st.truncated += r.truncated;
  };

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 8 * 1024 * 1024 });
      const onError = (err: Error) => {
        sock.close();
        reject(err);
      };
      sock.once('error', onError);
      sock.on('message', this.onMessage);
      sock.bind(port, host, () => {
        sock.off('error', onError);
        sock.on('error', (err) => this.deps.log.error({ err }, 'syslog UDP socket error'));
        try {
          sock.setRecvBufferSize(8 * 1024 * 1024);
        } catch {
          // capped by net.core.rmem_max; the default still works
        }
        this.socket = sock;
        resolve(sock.address().port);
      });
    });
  }

  close(): Promise<void> {
    this.throttle.close();
    const s = this.socket;
    this.socket = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}

/** TCP syslog (RFC 6587): octet counting or LF framing, detected per connection. */
export class TcpReceiver {
  private server: Server | null = null;
  private readonly conns = new Set<Socket>();
  private readonly throttle: LogThrottle;

  constructor(private readonly deps: ReceiverDeps) {
    this.throttle = new LogThrottle(deps.log);
  }

  private readonly onConnection = (sock: Socket): void => {
    const d = this.deps;
    const st = d.stats;
    const peer = sock.remoteAddress ?? '';
    if (!d.sources().allows(peer)) {
      st.rejectedTcp++;
      this.throttle.warn(
        'syslog-source-refused',
        peer,
        { peer, transport: 'tcp', rejected: st.rejectedTcp },
        'syslog sender outside syslog.allowed_sources dropped',
      );
      sock.destroy();
      return;
    }
    st.tcpConnections++;
    this.conns.add(sock);
    const counters = { lines: 0, truncated: 0, framingErrors: 0 };
    const framer = new SyslogFramer(d.maxLineLength(), d.tcpBatcher, counters);
    const sync = () => {
      st.tcpLines += counters.lines;
      st.truncated += counters.truncated;
      st.framingErrors += counters.framingErrors;
      counters.lines = 0;
      counters.truncated = 0;
      counters.framingErrors = 0;
    };
    // TCP has flow control: when the pool is behind, stop reading and let the sender buffer
    const resumeWhenRoom = (): void => {
      d.whenRoom().then(() => {
        if (sock.destroyed) return;
        if (d.congested()) resumeWhenRoom();
        else sock.resume();
      });
    };
    sock.on('data', (chunk: Buffer) => {
      const ok = framer.push(chunk);
      sync();
      if (!ok) {
        this.throttle.warn(
          'syslog-broken-frame',
          peer,
          { peer, framing_errors: st.framingErrors },
          'syslog TCP stream with a broken octet-counting frame closed',
        );
        sock.destroy();
        return;
      }
      if (d.congested() && !sock.isPaused()) {
        sock.pause();
        resumeWhenRoom();
      }
    });
    sock.on('end', () => {
      framer.end();
      sync();
      sock.end();
    });
    sock.on('error', () => {
      // peer resets are normal for syslog senders; 'close' cleans up
    });
    sock.on('close', () => {
      st.tcpConnections--;
      this.conns.delete(sock);
    });
  };

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = createServer({ noDelay: true }, this.onConnection);
      srv.once('error', reject);
      srv.listen({ host, port, backlog: 511 }, () => {
        srv.off('error', reject);
        srv.on('error', (err) => this.deps.log.error({ err }, 'syslog TCP server error'));
        this.server = srv;
        const a = srv.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    this.throttle.close();
    const srv = this.server;
    this.server = null;
    for (const c of this.conns) c.destroy();
    if (srv === null) return Promise.resolve();
    return new Promise((resolve) => srv.close(() => resolve()));
  }
}
