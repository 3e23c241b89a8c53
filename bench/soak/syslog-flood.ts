/**
 * The soak's syslog load, a process of its own: `rate` lines/s for `ms`, over TCP (LF framing,
 * one connection) or UDP (a datagram per line). Background lines come from `addresses` distinct
 * addresses (11.0.0.0 + a counter): each address's first line is a Dovecot login failure, every
 * later one a successful login, so no background address ever reaches the ban threshold while the
 * first pass fills the failure tracker. Interleaved at `attackRate` lines/s: the attackers, each
 * failing `attempts` times in a row, round after round. Prints `FloodResult` as JSON at the end.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface FloodParams {
  mode: 'tcp' | 'udp';
  port: number;
  rate: number;
  addresses: number;
  attackers: string[];
  attempts: number;
  attackRate: number;
  ms: number;
}

export interface FloodResult {
  sent: number;
  attackLines: number;
  elapsedMs: number;
  /** Lines the sender could not offer in time (the tick's cap, or TCP back-pressure). */
  behind: number;
}

/** The background address of counter value i. */
export function backgroundIp(i: number): string {
  return `${11 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

export const failureLine = (ip: string) =>
  `<38>Dec  2 12:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
const benignLine = (ip: string) =>
  `<38>Dec  2 12:00:00 mail dovecot: imap-login: Login: user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1, mpid=1, TLS`;

async function main(p: FloodParams): Promise<void> {
  let write: (lines: string[]) => Promise<void>;
  let close: () => void;
  if (p.mode === 'tcp') {
    const sock = connect({ host: '127.0.0.1', port: p.port });
    await new Promise<void>((r, j) => {
      sock.once('connect', () => r());
      sock.once('error', j);
    });
    sock.on('error', () => {});
    write = async (lines) => {
      if (!sock.write(`${lines.join('\n')}\n`)) await new Promise<void>((r) => sock.once('drain', () => r()));
    };
    close = () => sock.destroy();
  } else {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.connect(p.port, '127.0.0.1', () => r()));
    let pending = 0;
    const done = () => {
      pending--;
    };
    write = async (lines) => {
      for (const l of lines) {
        // the kernel's send queue is bounded: a line that would wait past it is not sent
        if (pending > 4096) await new Promise((r) => setImmediate(r));
        pending++;
        sock.send(l, done);
      }
    };
    close = () => sock.close();
  }
  const t0 = performance.now();
  const cap = Math.max(1, Math.ceil(p.rate / 10));
  let sent = 0;
  let counter = 0;
  let attackLines = 0;
  let behind = 0;
  const nAttack = p.attackers.length * p.attempts;
  while (performance.now() - t0 < p.ms) {
    const elapsed = performance.now() - t0;
    let due = Math.floor((elapsed * p.rate) / 1000) - sent;
    if (due > cap) {
      behind += due - cap;
      sent += due - cap;
      due = cap;
    }
    let attackDue = nAttack > 0 ? Math.floor((elapsed * p.attackRate) / 1000) - attackLines : 0;
    if (due > 0) {
      const lines: string[] = new Array(due);
      const step = attackDue > 0 ? Math.max(1, Math.floor(due / attackDue)) : 0;
      for (let k = 0; k < due; k++) {
        if (attackDue > 0 && k % step === 0) {
          const a = Math.floor(attackLines / p.attempts) % p.attackers.length;
          lines[k] = failureLine(p.attackers[a]);
          attackLines++;
          attackDue--;
        } else {
          const i = counter % p.addresses;
          lines[k] = counter < p.addresses ? failureLine(backgroundIp(i)) : benignLine(backgroundIp(i));
          counter++;
        }
      }
      sent += due;
      await write(lines);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const result: FloodResult = { sent: sent - behind, attackLines, elapsedMs: performance.now() - t0, behind };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  close();
  process.exit(0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await main(JSON.parse(process.argv[2] ?? '{}') as FloodParams);
