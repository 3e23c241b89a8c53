import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { type Service, Subsystem } from '../../src/main/service.js';
import { memoryLogger } from '../ingest/harness.js';

/** A real TCP listener as a subsystem; `stops` counts the calls to its stop. */
function listener(name: string, port = 0): Service & { server: Server; stops: number } {
  const server = createServer((s) => s.on('error', () => {}));
  const svc = {
    name,
    server,
    stops: 0,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    // close() waits for every open connection to end
    stop: () => {
      svc.stops++;
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return svc;
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

test('a stop held by an open connection is cut at its bound, logged, and the next one still stops', async () => {
  const { log, lines } = memoryLogger();
  const held = listener('held');
  const next = listener('next');
  const a = new Subsystem(held, { stopBoundMs: 150 });
  const b = new Subsystem(next);
  await a.start(log);
  await b.start(log);
  const client = connect(portOf(held.server), '127.0.0.1');
  client.on('error', () => {});
  await new Promise((r) => client.once('connect', r));
  try {
    await a.stop(log);
    await b.stop(log);
    assert.equal(a.state, 'stopping', 'still open: not reported stopped');
    assert.equal(b.state, 'stopped');
    assert.equal(next.server.listening, false);
    const line = lines.find((l) => l.service === 'held');
    assert.ok(line, JSON.stringify(lines));
    assert.equal(line.msg, 'held did not stop within 150 ms; stopping the others');
  } finally {
    client.destroy();
  }
});

test('a stop that fails is logged with its Error and does not throw', async () => {
  const { log, lines } = memoryLogger();
  const svc = listener('twice');
  const s = new Subsystem(svc);
  await s.start(log);
  // closed behind the subsystem's back: its own close then fails (ERR_SERVER_NOT_RUNNING)
  await new Promise((r) => svc.server.close(r));
  await s.stop(log);
  await s.stop(log);
  assert.equal(svc.stops, 1, 'stopped once, however often asked');
  const line = lines.find((l) => l.service === 'twice');
  assert.equal(line?.msg, 'twice did not stop cleanly');
  const err = line?.err as { type?: string; code?: string; message?: string };
  assert.equal(err.type, 'Error');
  assert.equal(err.code, 'ERR_SERVER_NOT_RUNNING');
});

test('a start that fails (port taken) rejects, and its stop does not reach the service', async () => {
  const { log } = memoryLogger();
  const first = listener('first');
  await first.start();
  const second = listener('second', portOf(first.server));
  const s = new Subsystem(second);
  try {
    await assert.rejects(s.start(log), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
    assert.equal(s.state, 'starting');
    await s.stop(log);
    assert.equal(second.stops, 0);
    assert.equal(s.state, 'stopped');
  } finally {
    await first.stop();
  }
});

test('a start past its wait lets the caller go on; it reports up once it serves', async () => {
  const { log, lines } = memoryLogger();
  let release = () => {};
  const slow: Service = {
    name: 'slow',
    start: () => new Promise<void>((r) => (release = r)),
    stop: () => {},
  };
  const s = new Subsystem(slow, { startWaitMs: 50 });
  await s.start(log);
  assert.equal(s.state, 'starting');
  assert.match(String(lines.find((l) => l.service === 'slow')?.msg), /still starting after 50 ms/);
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(s.state, 'up');
});
