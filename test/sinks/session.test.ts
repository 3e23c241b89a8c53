import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { atLeast, frontGet, HaproxyProcess, haproxy3, privatePaths, tcpBanner } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';
import { cliQuery, eventually, showMap } from './cli.js';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

interface Ports {
  web: number;
  imap: number;
  smtp: number;
  agent: number;
  app: number;
  banner: number;
}

function sessionConfig(dir: string, file: string, p: Ports): string {
  const spoe = join(dir, 'edgeban-spoe-session.conf');
  writeFileSync(spoe, readFileSync(join(examples, 'edgeban-spoe-session.conf')));
  const map: Record<string, number> = {
    '8080': p.web,
    '1143': p.imap,
    '1587': p.smtp,
    '8081': p.app,
    '143': p.banner,
    '587': p.banner,
    '12345': p.agent,
  };
  return privatePaths(readFileSync(join(examples, file), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe-session.conf', spoe)
    .replace(/127\.0\.0\.1:(\d+)/g, (m, port: string) => (map[port] ? `127.0.0.1:${map[port]}` : m))
    .replace('dst_port 1587', `dst_port ${p.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('timeout processing 100ms', 'timeout processing 1s');
}

/** GET / on a keep-alive agent: the status and whether the request reused the connection. */
function keptGet(
  agent: Agent,
  port: number,
  localAddress: string,
): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Questions edgeban's SPOA answered (fail2ban_requests_total for haproxy). */
async function asked(edge: EdgeProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^fail2ban_requests_total\{service="haproxy",result="\w+"\} (\d+)/gm))
    n += Number(m[1]);
  return n;
}

function suite(label: string, bin: string | null, file: string, skip: string | false) {
  describe(`per-session configuration (${file}) with a real ${label}`, { skip }, () => {
    const dir = tempDir('edgeban-sess-');
    const p: Ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
    const app = createHttpServer((_req, res) => res.end('app'));
    const banner = createServer((s) => {
      s.on('error', () => {});
      s.end('* OK IMAP ready\r\n');
    });
    let hap: HaproxyProcess;
    let edge: EdgeProcess;
    const map = join(dir, 'edgeban.map');
    const sock = { path: join(dir, 'admin.sock') };

    before(async () => {
      for (const k of Object.keys(p) as (keyof Ports)[]) p[k] = await freePort();
      await new Promise<void>((r) => banner.listen(p.banner, '127.0.0.1', r));
      await new Promise<void>((r) => app.listen(p.app, '127.0.0.1', r));
      const cfg = sessionConfig(dir, file, p);
      hap = await HaproxyProcess.start({ 'haproxy.cfg': cfg }, [p.web, p.imap], [], bin);
      edge = await startEdge(tempDir('edgeban-sess-edge-'), {
        FAIL2BAN_SPOA_PORT: String(p.agent),
        FAIL2BAN_HAPROXY_MAP_ENABLED: 'true',
        FAIL2BAN_HAPROXY_MAP_SOCKETS: `unix:${sock.path}`,
        FAIL2BAN_HAPROXY_MAP_MAP: map,
      });
      await edge.waitFor('HAProxy map in step');
      await edge.waitFor('edgeban started');
      // the SPOA listens last: HAProxy's next health check has to see it before it asks it
      await eventually('the agent server is UP in HAProxy', async () =>
        (await cliQuery(sock, 'show stat'))
          .split('\n')
          .some(
            (l) =>
              l.startsWith('edgeban-spoa,') &&
              !l.startsWith('edgeban-spoa,BACKEND') &&
              l.split(',')[17] === 'UP',
          ),
      );
    });

    after(async () => {
      edge?.proc.kill('SIGKILL');
      await hap?.stop();
      app.close();
      banner.close();
    });

    test('the agent is asked once per connection; a ban made during it is caught by the map', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const base = await asked(edge);
      for (let i = 0; i < 5; i++) assert.equal((await keptGet(agent, p.web, '127.0.0.4')).status, 200);
      await eventually('the first request was asked about', async () => (await asked(edge)) === base + 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await asked(edge), base + 1, 'only the first request of the connection asks the agent');
      await api(edge, '/api/ban', { ip_address: '127.0.0.4', duration: '1h' });
      await eventually('the map holds the ban', async () => (await showMap(sock, map)).has('127.0.0.4'));
      const r = await keptGet(agent, p.web, '127.0.0.4');
      assert.deepEqual(r, { status: 403, reused: true }, 'the same connection is refused now, by the map');
      agent.destroy();
      // a new connection of another client: asked once
      assert.equal((await frontGet(p.web, '127.0.0.5')).status, 200);
      await eventually('a new connection asks again', async () => (await asked(edge)) === base + 2);
      assert.equal(await tcpBanner(p.imap, '127.0.0.4'), '');
      assert.match(await tcpBanner(p.imap, '127.0.0.5'), /OK IMAP ready/);
    });

    test('without the map entry the agent still refuses a banned client (HTTP and TCP)', async () => {
      await api(edge, '/api/ban', { ip_address: '127.0.0.6', duration: '1h' });
      await eventually('the map holds the ban', async () => (await showMap(sock, map)).has('127.0.0.6'));
      await cliQuery(sock, `del map ${map} 127.0.0.6`);
      assert.equal((await showMap(sock, map)).has('127.0.0.6'), false);
      const before = await asked(edge);
      assert.equal((await frontGet(p.web, '127.0.0.6')).status, 403);
      assert.equal(await tcpBanner(p.imap, '127.0.0.6'), '');
      await eventually("both were the agent's answers", async () => (await asked(edge)) >= before + 2);
    });
  });
}

suite('HAProxy 2.6', findBinary('haproxy'), 'haproxy-session.cfg', peerMissing('haproxy'));
const h3 = haproxy3();
const h3skip = typeof h3 === 'string' ? h3 : false;
const h3bin = typeof h3 === 'string' ? null : h3;
suite(
  `HAProxy ${h3bin?.text ?? '3.x'}`,
  h3bin?.bin ?? null,
  h3bin && atLeast(h3bin, 3, 1) ? 'haproxy-session-3.1.cfg' : 'haproxy-session.cfg',
  h3skip,
);
