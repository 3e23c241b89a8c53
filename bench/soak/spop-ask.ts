/** One SPOP connection asking about addresses one at a time: the soak's end-of-run check. */
import { connect, type Socket } from 'node:net';
import { parseIp } from '../../src/shared/ip/parse.js';
import { ACK, AGENT_HELLO, checkPayload, HELLO, notifyFrame, splitFrames } from '../spoa/frames.js';

export class SpopAsker {
  private inbuf: Buffer = Buffer.alloc(0);
  private waiting: ((value: number) => void) | null = null;
  private frameId = 0;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
  }

  static async open(port: number, ms = 5000): Promise<SpopAsker> {
    const sock = connect({ host: '127.0.0.1', port, noDelay: true });
    const asker = new SpopAsker(sock);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('SPOA: no AGENT-HELLO')), ms);
      sock.once('error', reject);
      sock.on('connect', () => sock.write(HELLO));
      asker.waiting = () => {
        clearTimeout(t);
        resolve();
      };
    });
    return asker;
  }

  private onData(d: Buffer): void {
    this.inbuf = splitFrames(this.inbuf, d, (buf, start, len) => {
      const type = buf[start];
      const w = this.waiting;
      this.waiting = null;
      if (type === AGENT_HELLO) w?.(-1);
      else if (type === ACK) w?.(buf[start + len - 1]);
      else w?.(-2);
    });
  }

  /** 1 banned, 0 not, negative: no answer within `ms` or not an ACK. */
  ask(ip: string, ms = 2000): Promise<number> {
    const a = parseIp(ip);
    this.frameId = (this.frameId % 120) + 1;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting = null;
        resolve(-3);
      }, ms);
      this.waiting = (v) => {
        clearTimeout(t);
        resolve(v);
      };
      this.sock.write(notifyFrame(1, this.frameId, checkPayload(a.bytes, a.family)));
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
