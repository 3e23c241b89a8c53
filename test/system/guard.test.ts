import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { Metrics } from '../../src/main/metrics/registry.js';
import {
  fatalReason,
  guardSocket,
  installProcessGuard,
  subsystemOf,
  UNCAUGHT_METRIC,
  unreportedHandlerErrors,
} from '../../src/main/system/guard.js';
import { startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const CHILD = join(import.meta.dirname, 'guard-child.js');
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Child {
  proc: ChildProcess;
  out: () => string;
  port: number;
  exited: Promise<number | null>;
}

async function startChild(env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, [CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  const end = Date.now() + 10_000;
  let port = 0;
  while (Date.now() < end && proc.exitCode === null) {
    const m = /port=(\d+)/.exec(out);
    if (m) {
      port = Number(m[1]);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { proc, out: () => out, port, exited };
}

const get = async (c: Child, path: string) => (await fetch(`http://127.0.0.1:${c.port}${path}`)).text();

function logLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('an uncaught exception and an unhandled rejection are logged, counted, and not fatal', async () => {
  const c = await startChild();
  try {
    assert.ok(c.port > 0, c.out());
    for (let i = 0; i < 5; i++) {
      assert.equal(await get(c, '/throw'), 'pong');
      assert.equal(await get(c, '/reject'), 'pong');
    }
    await new Promise((r) => setTimeout(r, 100));
    // still serving, and the counter says what happened
    assert.equal(await get(c, '/ping'), 'pong');
    const text = await get(c, '/metrics');
    assert.match(text, new RegExp(`${UNCAUGHT_METRIC}\\{kind="exception"\\} 5`));
    assert.match(text, new RegExp(`${UNCAUGHT_METRIC}\\{kind="rejection"\\} 5`));
    // one line per kind and source in the window (rate-limited), err is a serialized Error
    const lines = logLines(c.out()).filter((l) => l.subsystem === 'guard');
    const exc = lines.filter((l) => l.kind === 'exception');
    const rej = lines.filter((l) => l.kind === 'rejection');
    assert.equal(exc.length, 1, c.out());
    assert.equal(rej.length, 1, c.out());
    const err = exc[0].err as { type: string; message: string; stack: string };
    assert.equal(err.type, 'Error');
    assert.equal(err.message, 'boom outside any handler');
    assert.match(String(exc[0].msg), /still serving/);
    assert.equal(c.proc.exitCode, null);
  } finally {
    c.proc.kill('SIGKILL');
  }
});

test('a throw inside the ban engine (single writer in an unknown state) is fatal: exit 1, logged', async () => {
  const c = await startChild();
  assert.ok(c.port > 0, c.out());
  await get(c, '/engine');
  assert.equal(await c.exited, 1);
  const fatal = logLines(c.out()).find((l) => l.level === 60);
  assert.ok(fatal, c.out());
  assert.match(String(fatal.reason), /ban table writer/);
  assert.equal(fatal.source, 'engine');
});

test('an uncaught exception during start-up is fatal: exit 1, logged', async () => {
  const c = await startChild({ STARTUP: 'throw' });
  assert.equal(await c.exited, 1);
  const fatal = logLines(c.out()).find((l) => l.level === 60);
  assert.ok(fatal, c.out());
  assert.equal(fatal.reason, 'during start-up');
  assert.equal((fatal.err as { message: string }).message, 'thrown while starting');
});

test('fatalReason: allocation failures and writer frames are fatal, others are not', () => {
  assert.equal(fatalReason(new RangeError('Array buffer allocation failed')), 'out of memory');
  assert.equal(fatalReason(new RangeError('Invalid array length')), null);
  const w = new Error('x');
  w.stack = 'Error: x\n    at BanEngine.ban (/app/dist/src/main/engine/engine.js:10:5)';
  assert.match(fatalReason(w) ?? '', /writer/);
  const s = new Error('y');
  s.stack = 'Error: y\n    at SpoaConnection.onData (/app/dist/src/main/spoa/connection.js:1:1)';
  assert.equal(fatalReason(s), null);
  assert.equal(subsystemOf(s), 'spoa');
  // a stateless helper (address parsing) is not a source: the subsystem that called it is
  const h = new Error('z');
  h.stack =
    'TypeError: z\n    at prefixEquals (/app/dist/src/shared/ip/cidr.js:3:1)\n' +
    '    at BanEngine.ignored (/app/dist/src/main/engine/engine.js:9:9)';
  assert.equal(subsystemOf(h), 'engine');
});

/** A server whose per-connection data handler throws on the byte "!" and echoes otherwise. */
async function throwingServer() {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    guardSocket(
      s,
      (chunk) => {
        if (chunk.includes(0x21)) throw new TypeError('hostile byte');
        s.write(chunk);
      },
      'test',
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0 };
}

function talk(port: number, data: string): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    let got = '';
    const s = connect({ host: '127.0.0.1', port }, () => s.write(data));
    s.on('data', (d) => {
      got += d;
      if (got === data) {
        s.destroy();
        resolve({ got, closed: false });
      }
    });
    s.on('error', () => {});
    s.on('close', () => resolve({ got, closed: true }));
  });
}

test('guardSocket: a throw in a data handler closes that connection only and is counted', async () => {
  const metrics = new Metrics({ defaultMetrics: false });
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
  const guard = installProcessGuard(log, { exit: () => assert.fail('not fatal') });
  guard.useRegistry(metrics.registry);
  guard.serving();
  const { server, port } = await throwingServer();
  try {
    const keep = connect({ host: '127.0.0.1', port });
    keep.on('error', () => {});
    await new Promise((r) => keep.once('connect', r));
    const bad = await talk(port, 'hi!');
    assert.equal(bad.closed, true);
    assert.equal(bad.got, '');
    // the other connection is untouched and still answered
    const echoed = new Promise<string>((r) => keep.once('data', (d) => r(String(d))));
    keep.write('still here');
    assert.equal(await echoed, 'still here');
    assert.equal((await talk(port, 'next')).got, 'next');
    await talk(port, 'again!');
    keep.destroy();
    const text = await metrics.registry.metrics();
    assert.match(text, new RegExp(`${UNCAUGHT_METRIC}\\{kind="handler"\\} 2`));
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.source === 'test');
    assert.equal(logged.length, 1, 'rate-limited: one line for two throws');
    assert.equal(logged[0].err.type, 'TypeError');
  } finally {
    guard.uninstall();
    server.close();
  }
});

test('guardSocket without an installed guard still closes the connection and counts it', async () => {
  const before = unreportedHandlerErrors();
  const { server, port } = await throwingServer();
  try {
    assert.equal((await talk(port, '!')).closed, true);
    assert.equal(unreportedHandlerErrors(), before + 1);
    assert.equal((await talk(port, 'ok')).got, 'ok');
  } finally {
    server.close();
  }
});

test('edgeban serve runs with the guard installed: the counter is exported from the start', async () => {
  const edge = await startEdge(tempDir('edgeban-guard-'));
  try {
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    for (const kind of ['exception', 'rejection', 'handler'])
      assert.match(text, new RegExp(`^${UNCAUGHT_METRIC}\\{kind="${kind}"\\} 0$`, 'm'));
  } finally {
    edge.proc.kill('SIGTERM');
  }
  assert.equal(await edge.exited, 0);
});
