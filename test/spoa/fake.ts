import pino from 'pino';
import { LogThrottle } from '../../src/main/log/throttle.js';
import type { ConnectionHost } from '../../src/main/spoa/connection.js';
import type { NotifyAnswerer } from '../../src/main/spoa/notify.js';

/** A socket stand-in for driving a SpoaConnection byte by byte: records what the agent writes. */
export function fakeSocket(written: Buffer[], remoteAddress = '127.0.0.1') {
  const handlers: Record<string, ((...a: unknown[]) => void)[]> = {};
  return {
    remoteAddress,
    remotePort: 1,
    writable: true,
    destroyed: false,
    ended: false,
    on(ev: string, fn: (...a: unknown[]) => void) {
      handlers[ev] = [...(handlers[ev] ?? []), fn];
      return this;
    },
    emit(ev: string, ...a: unknown[]) {
      for (const fn of handlers[ev] ?? []) fn(...a);
    },
    write(b: Buffer) {
      written.push(Buffer.from(b));
      return true;
    },
    end() {
      this.ended = true;
    },
    destroy() {
      this.destroyed = true;
    },
    pause() {},
    resume() {},
  };
}

/** A host that counts what the connection reports. */
export function fakeHost(answerer: NotifyAnswerer, maxFrameSize = 65536) {
  const log = pino({ level: 'silent' });
  const host = {
    answerer,
    log,
    throttle: new LogThrottle(log),
    maxFrameSize,
    frames: 0,
    statuses: [] as number[],
    closed: 0,
    crashes: [] as unknown[],
    protocolError(status: number) {
      host.statuses.push(status);
    },
    connectionClosed() {
      host.closed++;
    },
    helloDone() {},
    handlerError(_c: unknown, err: unknown) {
      host.crashes.push(err);
    },
  } satisfies ConnectionHost & Record<string, unknown>;
  return host;
}
