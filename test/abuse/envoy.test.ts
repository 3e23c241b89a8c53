import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  CHECK_PATH,
  EMPTY_GRPC,
  grpcStatus,
  H2_OPEN,
  h2frame,
  httpStatus,
  neverReader,
  rssMiB,
  sleep,
} from '../helpers/abuse.js';
import { type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { metricTotals } from '../helpers/metrics.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Attacks on the ext_authz port of a running `edgeban serve`: Check streams left unfinished
 * when their connection goes, unfinished messages meant to exhaust memory, Watch streams meant
 * to starve health Checks, and a peer that never reads relayed answers. Each time the process
 * must stay up, its memory bounded, and every other port answering.
 */

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH = '/grpc.health.v1.Health/Watch';
const REFLECTION = '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo';
const GRPC = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

interface Edge extends EdgeProcess {
  envoy: number;
}

async function start(): Promise<Edge> {
  const envoy = await freePort();
  const edge = await startEdge(tempDir('edgeban-abuse-envoy-'), {
    FAIL2BAN_ENVOY_ENABLED: 'true',
    FAIL2BAN_ENVOY_PORT: String(envoy),
  });
  await edge.waitFor('"msg":"edgeban started"', 20_000);
  return { ...edge, envoy };
}

function session(port: number): ClientHttp2Session {
  const s = h2connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  return s;
}

/** A gRPC frame header declaring a `declared`-byte message, followed by `sent - 5` zero bytes. */
function partial(declared: number, sent: number): Buffer {
  const b = Buffer.alloc(sent);
  b.writeUInt32BE(declared, 1);
  return b;
}

/** The health Check's answer: 'SERVING' (status 1), another status name, or 'none' within `ms`. */
function healthCheck(port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = session(port);
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (v: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done('none'), ms);
    const req = s.request({ ...GRPC, ':path': HEALTH_CHECK });
    req.on('error', () => done('error'));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // HealthCheckResponse { status = 1 (SERVING) }: field 1, varint
      done(
        body.length >= 7 && body[5] === 0x08 && body[6] === 1 ? 'SERVING' : `status ${body.toString('hex')}`,
      );
    });
    req.end(EMPTY_GRPC);
  });
}

/** Every other way in still answers: SPOA, /auth, and a fresh Check. */
async function othersServed(edge: Edge): Promise<void> {
  assert.equal(await Promise.race([spopBanned(edge.spoa, '192.0.2.1'), sleep(2000).then(() => -1)]), 0);
  const auth = await httpStatus(edge.http, '/auth');
  assert.ok(auth === 200 || auth === 401 || auth === 403, `/auth answered ${auth}`);
  assert.equal(await grpcStatus(edge.envoy, EMPTY_GRPC, 3000), 0);
}

function assertAlive(edge: Edge): void {
  assert.equal(edge.proc.exitCode, null, edge.out().slice(-3000));
  assert.equal(edge.proc.signalCode, null, edge.out().slice(-3000));
  assert.doesNotMatch(edge.out(), /malloc|double free|corrupted|Segmentation/);
}

/** Samples the RSS every 100 ms until stopped; the highest value seen. */
function rssPeak(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // the process is gone: the test's alive check reports it
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

describe('abuse on the ext_authz port', () => {
  let edge: Edge;
  before(async () => {
    edge = await start();
  });
  after(() => {
    edge?.proc.kill('SIGKILL');
  });

  test('a connection closed with unfinished Check messages leaves the process serving', {
    timeout: 25_000,
  }, async () => {
    for (const [count, size] of [
      [4, 512 * 1024],
      [20, 64 * 1024],
    ] as const) {
      const s = session(edge.envoy);
      const written: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const req = s.request({ ...GRPC, ':path': CHECK_PATH });
        req.on('error', () => {});
        // declared twice the size that is sent: the message never completes
        written.push(new Promise<void>((r) => req.write(partial(2 * size, size), () => r())));
      }
      await Promise.race([Promise.all(written), sleep(3000)]);
      // the TCP connection goes with the session, mid-message
      s.destroy();
      await sleep(300);
      assertAlive(edge);
      await othersServed(edge);
    }
    assertAlive(edge);
  });

  test('100 unfinished 4 MiB Check messages on one connection: refused, memory bounded, no crash', {
    timeout: 25_000,
  }, async () => {
    const pid = edge.proc.pid ?? 0;
    const rss0 = rssMiB(pid);
    const after: number[] = [];
    // three rounds: freed heap is not always handed back to the OS, but what one round leaves
    // the next one reuses; a leak (bytes never released from the budgets) would grow each round
    for (let round = 0; round < 3; round++) {
      const peak = rssPeak(pid);
      const { refused, reset, dropped } = await unfinishedMessages(edge.envoy);
      const during = peak.stop();
      assert.ok(
        refused + reset >= 90 || dropped,
        `only ${refused} refused and ${reset} reset of 100 streams`,
      );
      assert.ok(during - rss0 < 128, `RSS grew by ${(during - rss0).toFixed(0)} MiB during round ${round}`);
      await sleep(1000);
      after.push(rssMiB(pid));
      assertAlive(edge);
      await othersServed(edge);
    }
    // RSS after a round swings by tens of MiB (seen: 212, 150, 208) as the allocator keeps or
    // hands back freed pages: a leak is read off the process's own budget, which every round
    // must have given back in full, with the RSS a looser bound beside it
    const gauges = await metricTotals(edge.metrics);
    assert.equal(gauges.get('edgeban_envoy_buffered_bytes'), 0);
    assert.equal(gauges.get('edgeban_envoy_open_streams'), 0);
    const rounds = after.map((v) => v.toFixed(0)).join(', ');
    assert.ok(after[2] - after[0] < 96, `RSS after each round: ${rounds}`);
  });

  test('a health Check answers SERVING while 1,100 Watch streams are open', { timeout: 25_000 }, async () => {
    const sessions = [session(edge.envoy), session(edge.envoy)];
    let refusedWatches = 0;
    try {
      for (let i = 0; i < 1100; i++) {
        const req = sessions[i % 2].request({ ...GRPC, ':path': HEALTH_WATCH });
        req.on('error', () => {});
        req.on('response', (h) => {
          if (h['grpc-status'] === '8') refusedWatches++;
        });
        req.end(EMPTY_GRPC);
      }
      await sleep(1500);
      assert.equal(await healthCheck(edge.envoy, 5000), 'SERVING');
      assert.ok(refusedWatches >= 100, `only ${refusedWatches} Watch streams past the limit refused`);
    } finally {
      for (const s of sessions) s.destroy();
    }
    assertAlive(edge);
    await othersServed(edge);
  });

  test('a reflection stream whose client never reads: the relay stops reading, memory bounded', {
    timeout: 25_000,
  }, async () => {
    const pid = edge.proc.pid ?? 0;
    const rss0 = rssMiB(pid);
    const peak = rssPeak(pid);
    const s = session(edge.envoy);
    const req = s.request({ ...GRPC, ':path': REFLECTION });
    req.on('error', () => {});
    req.pause(); // never read: its answers (several KiB each) must not pile up in edgeban
    const ask = reflectionRequest('envoy.service.auth.v3.Authorization');
    const batch = Buffer.concat(Array.from({ length: 256 }, () => ask));
    let sent = 0;
    let blockedSince = 0;
    const end = Date.now() + 5000;
    while (Date.now() < end && !req.destroyed) {
      if (req.writableNeedDrain) {
        blockedSince ||= Date.now();
        await sleep(50);
        continue;
      }
      blockedSince = 0;
      req.write(batch);
      sent += 256;
      await new Promise<void>((r) => setImmediate(r));
    }
    const during = peak.stop();
    s.destroy();
    // its requests are no longer read: the client's writes stay blocked
    assert.ok(
      blockedSince > 0 && Date.now() - blockedSince >= 1000,
      `${sent} requests read from a client that never reads`,
    );
    assert.ok(during - rss0 < 48, `RSS grew by ${(during - rss0).toFixed(0)} MiB for ${sent} unread answers`);
    await sleep(1000);
    assertAlive(edge);
    await othersServed(edge);
  });

  test('a peer that never reads relayed health answers: memory bounded, others served', {
    timeout: 25_000,
  }, async () => {
    const pid = edge.proc.pid ?? 0;
    const rss0 = rssMiB(pid);
    const peak = rssPeak(pid);
    let id = 1;
    const headers = healthHeaders();
    const r = await neverReader(
      edge.envoy,
      H2_OPEN,
      () => {
        id += 2;
        return Buffer.concat([h2frame(1, 0x4, id, headers), h2frame(0, 0x1, id, EMPTY_GRPC)]);
      },
      5000,
    );
    const during = peak.stop();
    assert.ok(r.closed || r.blocked, `the never-reading peer wrote ${r.written} bytes unhindered`);
    assert.ok(during - rss0 < 128, `RSS grew by ${(during - rss0).toFixed(0)} MiB`);
    await sleep(1500);
    assert.ok(rssMiB(pid) - rss0 < 64, 'RSS back near its start');
    assertAlive(edge);
    await othersServed(edge);
  });
});

/** ServerReflectionRequest { file_containing_symbol: `symbol` } as a gRPC frame. */
function reflectionRequest(symbol: string): Buffer {
  const sym = Buffer.from(symbol, 'latin1');
  const msg = Buffer.concat([Buffer.from([0x22, sym.length]), sym]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** 100 streams each sending 3 MiB of a 4 MiB message, never finished, on one connection. */
async function unfinishedMessages(
  port: number,
): Promise<{ refused: number; reset: number; dropped: boolean }> {
  const s = session(port);
  let refused = 0;
  let reset = 0;
  const head = partial(4 * 1024 * 1024 - 5, 3 * 1024 * 1024);
  for (let i = 0; i < 100; i++) {
    const req = s.request({ ...GRPC, ':path': CHECK_PATH });
    req.on('error', () => {});
    req.on('response', (h) => {
      if (h['grpc-status'] === '8') refused++;
    });
    req.on('close', () => {
      if (req.rstCode !== 0) reset++;
    });
    req.write(head);
  }
  const end = Date.now() + 6000;
  while (Date.now() < end && refused + reset < 90 && !s.destroyed) await sleep(100);
  const dropped = s.destroyed;
  s.destroy();
  return { refused, reset, dropped };
}

/** HPACK block of a health Check: POST, http, its path, gRPC content type. */
function healthHeaders(): Buffer {
  const lit = (name: string, value: string) => {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
  };
  return Buffer.concat([
    Buffer.from([0x83, 0x86]),
    lit(':path', HEALTH_CHECK),
    lit(':authority', 'edgeban'),
    lit('content-type', 'application/grpc'),
    lit('te', 'trailers'),
  ]);
}
