import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { CHECK_PATH, EMPTY_GRPC, grpcStatus, sleep } from '../helpers/abuse.js';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The ext_authz port has no authentication, so what one peer may hold is bounded: where it may
 * connect from, how many connections it may keep, and how many streams all peers may have open.
 * Each limit is hit against a running `edgeban serve`, and a well-behaved Check still gets its
 * answer once the abuser lets go.
 */

const GRPC = { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' };

interface Edge extends EdgeProcess {
  envoy: number;
}

async function start(env: Record<string, string>): Promise<Edge> {
  const envoy = await freePort();
  const edge = await startEdge(tempDir('edgeban-abuse-envoy-limits-'), {
    FAIL2BAN_ENVOY_ENABLED: 'true',
    FAIL2BAN_ENVOY_PORT: String(envoy),
    ...env,
  });
  await edge.waitFor('"msg":"edgeban started"', 20_000);
  return { ...edge, envoy };
}

/** A session and whether it got the server's SETTINGS (connected) or was closed first. */
function connectSession(port: number, ms = 2000): Promise<{ s: ClientHttp2Session; up: boolean }> {
  return new Promise((resolve) => {
    const s = h2connect(`http://127.0.0.1:${port}`);
    s.on('error', () => {});
    const t = setTimeout(() => resolve({ s, up: false }), ms);
    s.once('remoteSettings', () => {
      clearTimeout(t);
      resolve({ s, up: true });
    });
    s.once('close', () => {
      clearTimeout(t);
      resolve({ s, up: false });
    });
  });
}

/** A Check on an existing session: its grpc-status, or -1 within `ms`. */
function checkOn(s: ClientHttp2Session, ms = 2000): Promise<number> {
  return new Promise((resolve) => {
    let status = -1;
    const t = setTimeout(() => resolve(status), ms);
    const req = s.request(GRPC);
    const read = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    };
    req.on('response', read);
    req.on('trailers', read);
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(t);
      resolve(status);
    });
    req.resume();
    req.end(EMPTY_GRPC);
  });
}

async function metric(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('ext_authz connection and stream limits', () => {
  let edge: Edge;
  before(async () => {
    edge = await start({
      FAIL2BAN_ENVOY_MAX_CONNECTIONS_PER_SOURCE: '3',
      FAIL2BAN_ENVOY_MAX_OPEN_STREAMS: '40',
    });
  });
  after(() => edge?.proc.kill());

  test('a source past envoy.max_connections_per_source is refused; its first connections keep working', async () => {
    const held = await Promise.all([0, 1, 2].map(() => connectSession(edge.envoy)));
    assert.deepEqual(
      held.map((h) => h.up),
      [true, true, true],
    );
    const extra = await connectSession(edge.envoy);
    assert.equal(extra.up, false, 'a fourth connection from 127.0.0.1 was served');
    for (const h of held) assert.equal(await checkOn(h.s), 0);
    assert.ok((await metric(edge, 'edgeban_envoy_connections_refused_total')) >= 1);
    for (const h of [...held, extra]) h.s.destroy();
    await sleep(200);
    // the slots come back once the connections close
    assert.equal(await grpcStatus(edge.envoy, EMPTY_GRPC, 3000), 0);
  });

  test('streams past envoy.max_open_streams get RESOURCE_EXHAUSTED, and free up when reset', async () => {
    const { s } = await connectSession(edge.envoy);
    // unfinished Checks: headers and no END_STREAM, each holding a stream open
    const open = [];
    for (let i = 0; i < 40; i++) {
      const r = s.request(GRPC, { endStream: false });
      r.on('error', () => {});
      r.write(Buffer.from([0, 0, 0, 0, 10]));
      open.push(r);
    }
    await sleep(300);
    const { s: other } = await connectSession(edge.envoy);
    assert.equal(await checkOn(other), 8, 'a stream past the limit was not refused with RESOURCE_EXHAUSTED');
    assert.ok((await metric(edge, 'edgeban_envoy_streams_refused_total')) >= 1);
    assert.equal(await metric(edge, 'edgeban_envoy_open_streams'), 40);
    for (const r of open) r.close();
    await sleep(300);
    assert.equal(await checkOn(other), 0, 'no Check answered after the abuser reset its streams');
    s.destroy();
    other.destroy();
  });
});

describe('ext_authz source allow-list', () => {
  let edge: Edge;
  before(async () => {
    edge = await start({ FAIL2BAN_ENVOY_ALLOWED_SOURCES: '10.0.0.0/8' });
  });
  after(() => edge?.proc.kill());

  test('a peer outside envoy.allowed_sources gets no HTTP/2 session, and is counted', async () => {
    const c = await connectSession(edge.envoy);
    assert.equal(c.up, false);
    c.s.destroy();
    assert.equal(await grpcStatus(edge.envoy, EMPTY_GRPC, 1500), -1);
    assert.ok((await metric(edge, 'edgeban_envoy_connections_rejected_total')) >= 2);
    assert.ok(edge.out().includes('source outside envoy.allowed_sources'));
  });
});
