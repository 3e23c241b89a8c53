import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import {
  disconnectStatus,
  frame,
  hello26,
  ipv4,
  notify,
  RawPeer,
  readyPeer,
  servedOnce,
} from '../spoa/client.js';
import { type Message, notifyBytes, parseActions, parseAgentOutput } from '../spoa/model.js';

const CANARY = Buffer.from('CANARY-7');
const unnamedIpv4 = (n: number): Message[] =>
  Array.from({ length: n }, () => ({
    name: new Uint8Array(0),
    args: [{ name: new Uint8Array(0), value: { t: 'ipv4', b: Buffer.from([10, 0, 0, 1]) } }],
  }));

async function metric(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Counters reach Prometheus within a second: poll until `name` reaches `atLeast`. */
async function metricReaches(edge: EdgeProcess, name: string, atLeast: number): Promise<boolean> {
  const end = Date.now() + 3000;
  while (Date.now() < end) {
    if ((await metric(edge, name)) >= atLeast) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the SPOA of a running edgeban under abuse', () => {
  let edge: EdgeProcess;
  before(async () => {
    edge = await startEdge(tempDir('edgeban-abuse-spoa-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      // the old default, so 100 silent peers fill it
      FAIL2BAN_SPOA_MAX_CLIENTS: '100',
      FAIL2BAN_SPOA_MAX_CLIENTS_PER_SOURCE: '100',
      FAIL2BAN_SPOA_READ_TIMEOUT: '3s',
      FAIL2BAN_SPOA_HELLO_TIMEOUT: '1s',
      FAIL2BAN_SPOA_ALLOWED_SOURCES: '127.0.0.1/32,127.0.0.3/32',
    });
    await edge.waitFor('edgeban started');
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('a NOTIFY of 700 messages gets its exact ACK, with no byte of what another connection sent', async () => {
    const other = await readyPeer(edge.spoa);
    for (let i = 0; i < 40; i++)
      other.send(
        notifyBytes(BigInt(i), 1n, [
          {
            name: Buffer.from('req-msg'),
            args: [
              { name: Buffer.from('ua'), value: { t: 'string', b: Buffer.alloc(4000, CANARY) } },
              { name: Buffer.from('src'), value: { t: 'ipv4', b: Buffer.from([127, 0, 0, 9]) } },
            ],
          },
        ]),
      );
    await other.waitFrames(41);
    // and half a frame left waiting, so a read buffer holds canary bytes
    other.send(notifyBytes(99n, 1n, [{ name: Buffer.alloc(3000, CANARY), args: [] }]).subarray(0, 2000));
    const p = await readyPeer(edge.spoa);
    p.send(notifyBytes(7n, 1n, unnamedIpv4(700)));
    const frames = await p.waitFrames(2);
    const out = Buffer.concat(frames.map((f) => f.raw));
    assert.equal(out.indexOf(CANARY), -1, "another connection's bytes reached this peer");
    const [, ack] = parseAgentOutput(out);
    assert.equal(ack.type, 103);
    assert.equal(ack.size, 4 + 7 + 700 * 12);
    const actions = parseActions(ack.payload);
    assert.equal(actions.length, 700);
    assert.ok(actions.every((a) => a.name === 'banned' && a.value?.t === 'uint32' && a.value.v === 0n));
    p.close();
    other.close();
  });

  test('100 connections that say HELLO and then nothing do not lock a new HAProxy out', async () => {
    const silent: RawPeer[] = [];
    for (let i = 0; i < 100; i++) {
      const s = await RawPeer.open(edge.spoa);
      s.send(hello26());
      silent.push(s);
    }
    await Promise.all(silent.map((s) => s.waitFrames(1)));
    // idle for a second: now they are the first to go when room is needed
    await sleep(1100);
    await servedOnce(edge.spoa);
    await servedOnce(edge.spoa);
    assert.ok(await metricReaches(edge, 'edgeban_spoa_connections_evicted_total', 1));
    for (const s of silent) s.close();
  });

  test('a source outside spoa.allowed_sources is refused without a byte', async () => {
    const p = await RawPeer.open(edge.spoa, '127.0.0.2');
    p.send(hello26());
    await p.waitClosed();
    assert.equal(p.frames.length, 0);
    assert.ok(await metricReaches(edge, 'edgeban_spoa_connections_rejected_total', 1));
    await servedOnce(edge.spoa);
  });

  test('slowloris: a frame trickled byte by byte is cut (status 2) while others are served', async () => {
    const p = await readyPeer(edge.spoa);
    const f = notify(1, 1, [['m', [['src', ipv4('127.0.0.9')]]]]);
    let i = 0;
    const trickle = setInterval(() => {
      if (i < f.length && !p.closed) p.send(f.subarray(i, ++i));
    }, 300);
    try {
      const hello = await RawPeer.open(edge.spoa);
      // a HELLO trickled as slowly never completes either: cut at spoa.hello_timeout
      hello.send(hello26().subarray(0, 3));
      await servedOnce(edge.spoa);
      const frames = await p.waitFrames(2, 8000);
      assert.equal(frames[1].type, 0x66);
      assert.equal(disconnectStatus(frames[1].payload), 2);
      assert.ok(i < f.length, 'cut before the frame completed');
      const h = await hello.waitFrames(1, 3000);
      assert.equal(disconnectStatus(h[0].payload), 2);
    } finally {
      clearInterval(trickle);
      p.close();
    }
  });

  test('connection churn: thousands of connect/close cycles, and the agent still answers', async () => {
    const once = (k: number) =>
      new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: edge.spoa }, () => {
          if (k % 3 === 1) s.write(hello26());
          if (k % 3 === 2) s.write(hello26().subarray(0, 20));
          if (k % 2 === 0) s.destroy();
          else s.end();
        });
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.resume();
      });
    const worker = async (w: number) => {
      for (let k = 0; k < 375; k++) await once(w * 1000 + k);
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await servedOnce(edge.spoa);
    // every slot comes back (closed sockets are released, half-open ones time out)
    const end = Date.now() + 5000;
    while ((await metric(edge, 'edgeban_spoa_connections')) > 2 && Date.now() < end) await sleep(100);
    assert.ok((await metric(edge, 'edgeban_spoa_connections')) <= 2);
  });

  test('a peer that never reads its ACKs is paused, costs bounded memory, and is closed', async () => {
    const rss0 = rssBytes(edge.proc.pid ?? 0);
    const s: Socket = connect({ host: '127.0.0.1', port: edge.spoa });
    await new Promise<void>((r) => s.once('connect', () => r()));
    let closed = false;
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
    });
    s.pause(); // never read
    const big = notifyBytes(1n, 1n, unnamedIpv4(700)); // 5.6 KB in, 8.4 KB of ACK out
    s.write(hello26());
    let written = 0;
    let stalled = false;
    while (written < 256 << 20 && !closed) {
      if (!s.write(big)) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => s.once('drain', () => r(true))),
          sleep(700).then(() => false),
        ]);
        if (!drained) {
          stalled = true;
          break;
        }
      }
      written += big.length;
    }
    assert.ok(stalled, `the agent kept reading ${written} bytes from a peer that reads nothing`);
    const grown = rssBytes(edge.proc.pid ?? 0) - rss0;
    assert.ok(grown < 96 << 20, `RSS grew by ${grown} bytes`);
    const end = Date.now() + 12_000;
    while (!closed && Date.now() < end) await sleep(100);
    assert.ok(closed, 'the agent closed the stuck connection');
    await servedOnce(edge.spoa);
  });
});

describe('a flood of bad SPOP frames in the log', () => {
  test('3,000 bad frames from a few sources give a handful of lines, with suppressed counts', async () => {
    const edge = await startEdge(tempDir('edgeban-abuse-spoa-log-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
    });
    try {
      await edge.waitFor('edgeban started');
      const oversize = Buffer.alloc(4);
      oversize.writeUInt32BE(1 << 20);
      const bad = [
        Buffer.from('00000000', 'hex'), // zero length: 4
        frame(3, 0, [1], [1], []), // FIN missing: 10
        oversize, // above the pre-HELLO cap: 3
      ];
      const sources = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
      const once = (from: string, k: number) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: edge.spoa, localAddress: from }, () =>
            s.write(bad[k % 3]),
          );
          s.on('error', () => {});
          s.on('close', () => resolve());
          s.resume();
        });
      await Promise.all(
        sources.map(async (from, w) => {
          for (let k = 0; k < 1000; k++) await once(from, w + k);
        }),
      );
      edge.proc.kill('SIGTERM');
      await edge.exited;
      const lines = edge
        .out()
        .split('\n')
        .filter((l) => l.includes('SPOP protocol error'))
        .map((l) => JSON.parse(l) as { suppressed?: number; status: number; msg: string });
      assert.ok(lines.length > 0 && lines.length <= 2 * sources.length * bad.length, `${lines.length} lines`);
      // a line stands for itself plus what it reports suppressed; a summary only for the latter
      const total = lines.reduce(
        (n, l) => n + (l.msg.endsWith('(repeated)') ? 0 : 1) + (l.suppressed ?? 0),
        0,
      );
      assert.equal(total, 3000, 'every bad frame is in a line or a suppressed count');
      assert.ok(lines.some((l) => (l.suppressed ?? 0) > 100));
    } finally {
      if (edge.proc.exitCode === null) edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });
});
