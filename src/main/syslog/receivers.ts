import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
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

/** Logs a rejected sender at most once a minute per transport (the counter has the rest). */
class RejectLog {
  private last = 0;
  constructor(
    private readonly log: Logger,
    private readonly transport: string,
  ) {}
  note(peer: string, total: number): void {
    const now = Date.now();
    if (now - this.last < 60_000) return;
    this.last = now;
    this.log.warn(
      { peer, transport: this.transport, rejected: total },
      'syslog sender outside syslog.allowed_sources dropped',
    );
  }
}

/** UDP syslog: one datagram may hold several lines. */
export class UdpReceiver {
  private socket: UdpSocket | null = null;
  private readonly rejectLog: RejectLog;

  constructor(private readonly deps: ReceiverDeps) {
    this.rejectLog = new RejectLog(deps.log, 'udp');
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const d = this.deps;
    const st = d.stats;
    if (!d.sources().allows(rinfo.address)) {
      st.rejectedUdp++;
      this.rejectLog.note(rinfo.address, st.rejectedUdp);
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
  private readonly rejectLog: RejectLog;

  constructor(private readonly deps: ReceiverDeps) {
    this.rejectLog = new RejectLog(deps.log, 'tcp');
  }

  private readonly onConnection = (sock: Socket): void => {
    const d = this.deps;
    const st = d.stats;
    const peer = sock.remoteAddress ?? '';
    if (!d.sources().allows(peer)) {
      st.rejectedTcp++;
      this.rejectLog.note(peer, st.rejectedTcp);
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
        d.log.warn({ peer }, 'syslog TCP stream with a broken octet-counting frame closed');
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
    const srv = this.server;
    this.server = null;
    for (const c of this.conns) c.destroy();
    if (srv === null) return Promise.resolve();
    return new Promise((resolve) => srv.close(() => resolve()));
  }
}
