import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { frontGet, HaproxyProcess, privatePaths, tcpBanner } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';
import { startAgent } from './agent.js';

const skip = peerMissing('haproxy');
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

/** Rewrite the shipped example to private ports and files in `dir`. */
function exampleConfig(
  dir: string,
  ports: { web: number; imap: number; smtp: number; agent: number; app: number; banner: number },
): string {
  writeFileSync(join(dir, 'edgeban-spoe.conf'), readFileSync(join(examples, 'edgeban-spoe.conf')));
  const map: Record<string, number> = {
    '8080': ports.web,
    '1143': ports.imap,
    '1587': ports.smtp,
    '8081': ports.app,
    '143': ports.banner,
    '587': ports.banner,
    '12345': ports.agent,
  };
  return privatePaths(readFileSync(join(examples, 'haproxy.cfg'), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', join(dir, 'edgeban-spoe.conf'))
    .replace(/127\.0\.0\.1:(\d+)/g, (m, p: string) => (map[p] ? `127.0.0.1:${map[p]}` : m))
    .replace('dst_port 1587', `dst_port ${ports.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
}

test('the shipped HAProxy examples pass haproxy -c', { skip }, () => {
  const dir = tempDir('edgeban-hapc-');
  const cfg = exampleConfig(dir, { web: 8080, imap: 1143, smtp: 1587, agent: 12345, app: 8081, banner: 143 });
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const out = execFileSync(findBinary('haproxy') ?? 'haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], {
    encoding: 'utf8',
  });
  assert.match(out, /Configuration file is valid/);
});

describe('with a real HAProxy 2.6', { skip }, () => {
  let agent: Awaited<ReturnType<typeof startAgent>>;
  let hap: HaproxyProcess;
  const ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
  const app = createHttpServer((_req, res) => res.end('app'));
  const banner = createServer((s) => {
    s.on('error', () => {});
    s.end('* OK IMAP ready\r\n');
  });

  before(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    await new Promise<void>((r) => banner.listen(ports.banner, '127.0.0.1', r));
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    agent = await startAgent({ set_reason: true, set_ttl: true }, ports.agent);
    agent.ban('127.0.0.2');
    const dir = tempDir('edgeban-hap-');
    hap = await HaproxyProcess.start(
      {
        'haproxy.cfg': exampleConfig(dir, ports),
        'edgeban-spoe.conf': readFileSync(join(examples, 'edgeban-spoe.conf'), 'utf8'),
      },
      [ports.web, ports.imap],
    );
    await hap.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
  });

  after(async () => {
    await hap?.stop();
    await agent?.server.close(200);
    banner.close();
    app.close();
  });

  test("the agent passes HAProxy's spop-check health check", () => {
    assert.match(hap.log, /Layer7 check passed/);
    assert.ok(agent.server.healthchecks >= 1);
  });

  test('HTTP: a banned client gets 403, others 200', async () => {
    assert.equal((await frontGet(ports.web, '127.0.0.2')).status, 403);
    const ok = await frontGet(ports.web, '127.0.0.1');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'app');
  });

  test('HTTP: unbanning and banning take effect on the next request', async () => {
    agent.unban('127.0.0.2');
    assert.equal((await frontGet(ports.web, '127.0.0.2')).status, 200);
    agent.ban('127.0.0.4');
    assert.equal((await frontGet(ports.web, '127.0.0.4')).status, 403);
    agent.ban('127.0.0.2');
    assert.equal((await frontGet(ports.web, '127.0.0.2')).status, 403);
  });

  test('TCP: a banned client is cut before the backend speaks; others get the banner', async () => {
    assert.equal(await tcpBanner(ports.imap, '127.0.0.2'), '');
    assert.match(await tcpBanner(ports.imap, '127.0.0.1'), /^\* OK IMAP ready/);
    assert.match(await tcpBanner(ports.smtp, '127.0.0.3'), /^\* OK/);
  });

  test("HAProxy's NOTIFYs caused no protocol error", () => {
    assert.equal(agent.server.errors.size, 0, JSON.stringify([...agent.server.errors]));
    assert.ok(agent.server.answerer.counters.denied >= 3);
  });

  test('200 concurrent clients through the shipped example: the default limits refuse no agent connection', async () => {
    const peak = { n: 0 };
    const watch = setInterval(() => {
      peak.n = Math.max(peak.n, agent.server.connections.size);
    }, 5);
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => frontGet(ports.web, '127.0.0.1')));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    } finally {
      clearInterval(watch);
    }
    assert.equal(agent.server.refused, 0);
    assert.equal(agent.server.evicted, 0);
    assert.ok(peak.n <= agent.config.max_clients_per_source, `${peak.n} agent connections`);
    assert.equal(agent.server.errors.size, 0);
  });

  test('restarting the agent while HAProxy runs recovers', async () => {
    await agent.server.close(200);
    // agent down: HAProxy fails open (set-on-error), the request is not refused by us
    assert.notEqual((await frontGet(ports.web, '127.0.0.2')).status, 403);
    const table = agent.table;
    agent = await startAgent({}, ports.agent);
    agent.ban('127.0.0.2');
    assert.ok(table !== agent.table);
    const end = Date.now() + 8000;
    let status = 0;
    while (Date.now() < end) {
      status = (await frontGet(ports.web, '127.0.0.2')).status;
      if (status === 403) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 403);
  });

  test('a soft stop (SIGUSR1) is handled: HAProxy disconnects, the agent answers, no protocol error', async () => {
    const before = agent.server.connections.size;
    assert.ok(before >= 1);
    await hap.stop('SIGUSR1');
    const end = Date.now() + 3000;
    while (agent.server.connections.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(agent.server.connections.size, 0);
    assert.equal(agent.server.errors.size, 0);
  });
});

describe('recording a real HAProxy session and replaying it', { skip }, () => {
  test('every NOTIFY of the recording gets its ACK, at recorded pace and at full speed', async () => {
    const { startRelay, replay } = await import('../../bench/spoa/recording.js');
    const agent = await startAgent();
    agent.ban('127.0.0.2');
    const relayPort = await freePort();
    const relay = await startRelay(relayPort, agent.port);
    const ports = {
      web: await freePort(),
      imap: await freePort(),
      smtp: await freePort(),
      agent: relayPort,
      app: await freePort(),
      banner: await freePort(),
    };
    const dir = tempDir('edgeban-rec-');
    const hap = await HaproxyProcess.start(
      {
        'haproxy.cfg': exampleConfig(dir, ports),
        'edgeban-spoe.conf': readFileSync(join(examples, 'edgeban-spoe.conf'), 'utf8'),
      },
      [ports.web],
    );
    try {
      for (let i = 0; i < 6; i++) await frontGet(ports.web, i % 2 ? '127.0.0.2' : '127.0.0.1');
    } finally {
      await hap.stop();
    }
    const rec = await relay.stop();
    assert.ok(rec.chunks.length > 0);
    const atPace = await replay(rec, agent.port, 1);
    assert.ok(atPace.notifies >= 6, JSON.stringify(atPace));
    assert.equal(atPace.acks, atPace.notifies);
    assert.ok(atPace.agentHellos >= 1 && atPace.agentHellos === atPace.hellos, JSON.stringify(atPace));
    const fast = await replay(rec, agent.port, 0);
    assert.equal(fast.acks, fast.notifies);
    assert.equal(fast.notifies, atPace.notifies);
    assert.equal(agent.server.errors.size, 0);
    await agent.server.close(200);
  });
});
