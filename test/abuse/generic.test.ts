import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  churn,
  closesWithin,
  EMPTY_GRPC,
  grpcStatus,
  H2_OPEN,
  h2Check,
  h2CheckHeaders,
  h2data,
  h2frame,
  httpGet,
  httpStatus,
  neverReader,
  rssMiB,
  type Slowloris,
  sleep,
  slowloris,
} from '../helpers/abuse.js';
import { dovecotLine, type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { hello26, ipv4, notify } from '../spoa/client.js';

/**
 * Availability attacks against a running `edgeban serve`, on every port it listens on: a
 * slowloris, connection churn, and a peer that never reads. Each must leave the other clients
 * served, the attacker's connection closed or its buffering bounded, and the RSS back within
 * RSS_SLACK_MIB once the attack is over.
 */

const RSS_SLACK_MIB = 64;
const SETTLE_MS = 1500;

interface Edge extends EdgeProcess {
  envoy: number;
}

async function start(): Promise<Edge> {
  const envoy = await freePort();
  const edge = await startEdge(tempDir('edgeban-abuse-'), {
    FAIL2BAN_SYSLOG_PROTOCOL: 'both',
    FAIL2BAN_SPOA_READ_TIMEOUT: '3s',
    FAIL2BAN_NGINX_READ_TIMEOUT: '3s',
    FAIL2BAN_ENVOY_ENABLED: 'true',
    FAIL2BAN_ENVOY_PORT: String(envoy),
  });
  await edge.waitFor('"msg":"edgeban started"', 20_000);
  return { ...edge, envoy };
}

function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => fallback)]);
}

let probeIp = 1;

/** Each port answers a legitimate client within 2 s (true), or not (false). */
async function probe(edge: Edge): Promise<Record<string, boolean>> {
  const [spoa, http, metrics, envoy, syslog] = await Promise.all([
    within(
      spopBanned(edge.spoa, '192.0.2.1').then((v) => v === 0),
      2000,
      false,
    ),
    httpStatus(edge.http, '/health').then((s) => s === 200),
    httpStatus(edge.metrics, '/metrics').then((s) => s === 200),
    grpcStatus(edge.envoy).then((s) => s >= 0),
    syslogServed(edge),
  ]);
  return { spoa, http, metrics, envoy, syslog };
}

/** Five failures over syslog TCP from a fresh address get it banned (the SPOA says so). */
async function syslogServed(edge: Edge): Promise<boolean> {
  const ip = `198.51.100.${probeIp++ % 250}`;
  const sent = await within(
    new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: edge.syslog }, () => {
        s.end(Array.from({ length: 5 }, () => `${dovecotLine(ip)}\n`).join(''));
      });
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(true));
    }),
    2000,
    false,
  );
  if (!sent) return false;
  const end = Date.now() + 3000;
  while (Date.now() < end) {
    if ((await within(spopBanned(edge.spoa, ip), 1000, -1)) === 1) return true;
    await sleep(50);
  }
  return false;
}

const allServed = (r: Record<string, boolean>) => ({
  spoa: true,
  http: true,
  metrics: true,
  envoy: true,
  syslog: true,
  ...r,
});

async function assertRssBack(edge: Edge, before: number, what: string): Promise<void> {
  await sleep(SETTLE_MS);
  const now = rssMiB(edge.proc.pid ?? 0);
  assert.ok(now - before < RSS_SLACK_MIB, `${what}: RSS ${before.toFixed(0)} → ${now.toFixed(0)} MiB`);
}

interface PortSpec {
  name: 'spoa' | 'syslog' | 'http' | 'metrics' | 'envoy';
  port: (e: Edge) => number;
  /** Slowloris: the first bytes, then the bytes it drips one at a time. */
  slow: { first: Buffer; drip: Buffer };
  /**
   * The bound on a slow client that was not closed by a timeout: this much more input on the
   * same connection must get it closed. null: slow senders are legitimate here (syslog), only
   * memory is checked.
   */
  overflow: Buffer | null;
  /**
   * False where the bound is that the input is no longer read rather than a close: after a
   * connection error nghttp2 sends GOAWAY and ignores the rest of the session's input; the
   * front's keep-alive ping drops the peer later (memory is what the test checks).
   */
  overflowCloses?: boolean;
  /** How long the never-reading peer floods (ms). */
  neverMs?: number;
  /** A peer that never reads: what it sends first, then over and over. */
  never: { first: Buffer; request: Buffer | (() => Buffer) };
  /** The server never writes (nothing to stop reading): only memory is checked. */
  silent?: boolean;
  /**
   * Flood once before the RSS baseline is taken, so that the workers' heaps and the batches in
   * flight have reached their working size: the second flood then measures only what grows with
   * input, which an unbounded buffer would (by the ~140 MB sent).
   */
  neverWarm?: boolean;
  todo?: { slowloris?: string; churn?: string; never?: string };
}

const headerFlood = Buffer.from(`X-Pad: ${'a'.repeat(80 * 1024)}\r\n`, 'latin1');
let h2Stream = 1;

const PORTS: PortSpec[] = [
  {
    name: 'spoa',
    port: (e) => e.spoa,
    slow: { first: hello26().subarray(0, 5), drip: hello26().subarray(5) },
    overflow: Buffer.alloc(256 * 1024, 0x41),
    never: { first: hello26(), request: notify(1, 1, [['check-client-ip', [['src', ipv4('192.0.2.9')]]]]) },
  },
  {
    name: 'syslog',
    port: (e) => e.syslog,
    slow: { first: Buffer.from('<38>Nov 30 12:00:00 mail dovecot: '), drip: Buffer.from('slow') },
    overflow: null,
    // syslog never answers: this peer floods lines (~70 MB/s on loopback) and the receiver reads
    // them all; a short flood, as RSS rises with the matchers' heaps under load
    never: { first: Buffer.alloc(0), request: Buffer.from(`${dovecotLine('10.0.0.1')}\n`) },
    neverMs: 2000,
    silent: true,
    // the flood is read at full speed: both matcher workers' heaps and the batches in flight grow
    // to their working size (and V8 keeps it), by 100-130 MiB depending on the host's speed
    neverWarm: true,
  },
  {
    name: 'http',
    port: (e) => e.http,
    slow: {
      first: Buffer.from('GET /auth HTTP/1.1\r\nHost: edgeban\r\n'),
      drip: Buffer.from('X-Slow: 1\r\n'),
    },
    overflow: headerFlood,
    never: { first: Buffer.alloc(0), request: httpGet('/auth') },
  },
  {
    name: 'metrics',
    port: (e) => e.metrics,
    slow: {
      first: Buffer.from('GET /metrics HTTP/1.1\r\nHost: edgeban\r\n'),
      drip: Buffer.from('X-Slow: 1\r\n'),
    },
    overflow: headerFlood,
    never: { first: Buffer.alloc(0), request: httpGet('/metrics') },
  },
  {
    name: 'envoy',
    port: (e) => e.envoy,
    slow: { first: H2_OPEN, drip: Buffer.concat([h2CheckHeaders(1), h2data(1, EMPTY_GRPC, true)]) },
    // a frame larger than the default SETTINGS_MAX_FRAME_SIZE (16 KiB)
    overflow: h2frame(0, 0, 3, Buffer.alloc(64 * 1024)),
    overflowCloses: false,
    never: {
      first: H2_OPEN,
      request: () => {
        h2Stream += 2;
        return h2Check(h2Stream);
      },
    },
  },
];

for (const spec of PORTS) {
  describe(`abuse on the ${spec.name} port`, () => {
    let edge: Edge;
    before(async () => {
      edge = await start();
    });
    after(() => {
      edge?.proc.kill('SIGKILL');
    });

    test('slowloris: other clients are served meanwhile, the slow ones are closed or bounded', {
      timeout: 25_000,
      todo: spec.todo?.slowloris,
    }, async () => {
      const rss0 = rssMiB(edge.proc.pid ?? 0);
      const slow: Slowloris[] = [];
      for (let i = 0; i < 20; i++)
        slow.push(await slowloris(spec.port(edge), spec.slow.first, spec.slow.drip, 300));
      try {
        for (let round = 0; round < 3; round++) {
          await sleep(1000);
          assert.deepEqual(await probe(edge), allServed({}), `round ${round}`);
        }
        for (const s of slow) {
          if (s.socket.destroyed || spec.overflow === null) continue;
          // not closed by a timeout yet: its buffering must be bounded
          s.socket.write(spec.overflow);
          if (spec.overflowCloses === false) continue;
          assert.ok(await closesWithin(s.socket, 4000), `${spec.name}: the slow client's input is unbounded`);
        }
        if (spec.overflowCloses === false) for (const s of slow) s.socket.write(spec.overflow ?? '');
        assert.deepEqual(await probe(edge), allServed({}));
      } finally {
        for (const s of slow) s.stop();
      }
      await assertRssBack(edge, rss0, 'slowloris');
      assert.equal(edge.proc.exitCode, null, edge.out().slice(-2000));
    });

    test('connection churn: 2000 connect/close cycles, every port still answers', {
      timeout: 25_000,
      todo: spec.todo?.churn,
    }, async () => {
      const rss0 = rssMiB(edge.proc.pid ?? 0);
      const n = await churn(spec.port(edge), 2000, 32, spec.slow.first);
      assert.ok(n >= 1950, `only ${n} of 2000 connected`);
      assert.deepEqual(await probe(edge), allServed({}));
      await assertRssBack(edge, rss0, 'churn');
      assert.equal(edge.proc.exitCode, null, edge.out().slice(-2000));
    });

    test('a peer that never reads: its connection is closed or no longer read, memory stays bounded', {
      timeout: 25_000,
      todo: spec.todo?.never,
    }, async () => {
      if (spec.neverWarm) {
        await neverReader(spec.port(edge), spec.never.first, spec.never.request, spec.neverMs ?? 4000);
        await sleep(SETTLE_MS);
      }
      const rss0 = rssMiB(edge.proc.pid ?? 0);
      const probing = (async () => {
        const seen: Record<string, boolean>[] = [];
        for (let i = 0; i < 2; i++) {
          await sleep(1200);
          seen.push(await probe(edge));
        }
        return seen;
      })();
      const r = await neverReader(
        spec.port(edge),
        spec.never.first,
        spec.never.request,
        spec.neverMs ?? 4000,
      );
      for (const seen of await probing) assert.deepEqual(seen, allServed({}), 'served during the attack');
      if (!spec.silent)
        assert.ok(
          r.closed || r.blocked,
          `${spec.name} kept reading a peer that never reads: ${JSON.stringify(r)}`,
        );
      await assertRssBack(edge, rss0, 'never-reading peer');
      assert.deepEqual(await probe(edge), allServed({}));
      assert.equal(edge.proc.exitCode, null, edge.out().slice(-2000));
    });
  });
}
