import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
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

const BANNED = '127.0.0.2';
const PREFIX = '127.0.3.0/24';
const IN_PREFIX = '127.0.3.9';
const CLEAN = '127.0.0.3';

interface Ports {
  web: number;
  imap: number;
  smtp: number;
  agent: number;
  app: number;
  banner: number;
  webB: number;
  statsB: number;
}

/** A shipped example (`version`: '' for 2.x, '-3.0', '-3.1') on private ports, its paths in `dir`. */
function exampleConfig(dir: string, version: string, p: Ports): string {
  writeFileSync(join(dir, 'edgeban-spoe.conf'), readFileSync(join(examples, `edgeban-spoe${version}.conf`)));
  const map: Record<string, number> = {
    '8080': p.web,
    '1143': p.imap,
    '1587': p.smtp,
    '8081': p.app,
    '143': p.banner,
    '587': p.banner,
    '12345': p.agent,
  };
  return privatePaths(readFileSync(join(examples, `haproxy${version}.cfg`), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', join(dir, 'edgeban-spoe.conf'))
    .replace(/127\.0\.0\.1:(\d+)/g, (m, port: string) => (map[port] ? `127.0.0.1:${map[port]}` : m))
    .replace('dst_port 1587', `dst_port ${p.smtp}`)
    .replace('check inter 5s', 'check inter 300ms');
}

/** A second HAProxy with only the map's deny, its runtime API on TCP. */
function plainConfig(map: string, p: Ports): string {
  return [
    'global',
    `    stats socket ipv4@127.0.0.1:${p.statsB} level admin`,
    'defaults',
    '    mode http',
    '    timeout connect 1s',
    '    timeout client 5s',
    '    timeout server 5s',
    'frontend web',
    `    bind 127.0.0.1:${p.webB}`,
    `    http-request deny deny_status 403 if { src,map_ip(${map}) -m str banned blacklisted }`,
    '    http-request return status 200 content-type text/plain string ok',
    '',
  ].join('\n');
}

function suite(label: string, bin: string | null, version: string, skip: string | false) {
  describe(`haproxy_map with a real ${label} (master CLI and TCP stats socket)`, { skip }, () => {
    const dir = tempDir('edgeban-hmap-');
    const map = join(dir, 'edgeban.map');
    const master = join(dir, 'master.sock');
    const p: Ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0, webB: 0, statsB: 0 };
    const app = createHttpServer((_req, res) => res.end('app'));
    const banner = createServer((s) => {
      s.on('error', () => {});
      s.end('* OK IMAP ready\r\n');
    });
    let hapA: HaproxyProcess;
    let hapB: HaproxyProcess;
    let edge: EdgeProcess | null = null;
    const cwd = tempDir('edgeban-hmap-edge-');
    const env = () => ({
      FAIL2BAN_SPOA_PORT: String(p.agent),
      FAIL2BAN_HAPROXY_MAP_ENABLED: 'true',
      FAIL2BAN_HAPROXY_MAP_SOCKETS: `unix:${master},127.0.0.1:${p.statsB}`,
      FAIL2BAN_HAPROXY_MAP_MAP: map,
    });
    const A = { path: master };
    const B = () => ({ port: p.statsB });
    const mapOf = (which: 'A' | 'B') => (which === 'A' ? showMap(A, map, true) : showMap(B(), map));
    const keys = async (which: 'A' | 'B') => [...(await mapOf(which)).keys()].sort();
    const webB = () => p.webB;

    before(async () => {
      for (const k of Object.keys(p) as (keyof Ports)[]) p[k] = await freePort();
      await new Promise<void>((r) => banner.listen(p.banner, '127.0.0.1', r));
      await new Promise<void>((r) => app.listen(p.app, '127.0.0.1', r));
      hapA = await HaproxyProcess.start(
        { 'haproxy.cfg': exampleConfig(dir, version, p) },
        [p.web, p.imap],
        ['-W', '-S', master],
        bin,
      );
      hapB = await HaproxyProcess.start({ 'haproxy.cfg': plainConfig(map, p) }, [p.webB, p.statsB], [], bin);
    });

    after(async () => {
      edge?.proc.kill('SIGKILL');
      await hapA?.stop();
      await hapB?.stop();
      app.close();
      banner.close();
    });

    test('bans reach both HAProxies and hold after kill -9; a restart puts the map back; unban and expiry remove entries; a reload keeps them from the file', async () => {
      edge = await startEdge(cwd, env());
      await edge.waitFor(/"master":true,"msg":"HAProxy map in step"/);
      await edge.waitFor(/"master":false,"msg":"HAProxy map in step"/);
      await api(edge, '/api/ban', { ip_address: BANNED, duration: '1h' });
      await api(edge, '/api/ban', { ip_address: PREFIX, duration: '1h' });
      for (const h of ['A', 'B'] as const)
        await eventually(
          `${h} holds both bans`,
          async () => (await keys(h)).join() === [BANNED, PREFIX].sort().join(),
        );
      assert.equal((await mapOf('A')).get(BANNED), 'banned');
      const fileLines = () => readFileSync(map, 'utf8').trim().split('\n').sort();
      // the file follows within a moment (written whole: never a partial line)
      await eventually('the map file holds both bans', () => fileLines().length === 2);

      edge.proc.kill('SIGKILL');
      await edge.exited;
      edge = null;
      // edgeban is gone: HAProxy refuses the banned ones by itself and lets the rest through
      assert.equal((await frontGet(p.web, BANNED)).status, 403);
      assert.equal((await frontGet(p.web, IN_PREFIX)).status, 403);
      assert.equal((await frontGet(p.web, CLEAN)).status, 200);
      assert.equal(await tcpBanner(p.imap, BANNED), '');
      assert.match(await tcpBanner(p.imap, CLEAN), /OK IMAP ready/);
      assert.equal((await frontGet(webB(), BANNED)).status, 403);
      assert.equal((await frontGet(webB(), CLEAN)).status, 200);
      // the file was written too, whole
      assert.deepEqual(
        readFileSync(map, 'utf8').trim().split('\n').sort(),
        [`${BANNED} banned`, `${PREFIX} banned`].sort(),
      );

      // someone edits the map meanwhile; the restart replaces it with the ban table
      await cliQuery(B(), `add map ${map} 127.0.0.9 banned;del map ${map} ${BANNED}`);
      assert.deepEqual(await keys('B'), ['127.0.0.9', PREFIX].sort());
      edge = await startEdge(cwd, env());
      await edge.waitFor('edgeban started');
      const table = async () => {
        const r = await api<{ temp_bans: { ip_address: string }[] }>(
          edge as EdgeProcess,
          '/api/temp-bans?limit=1000',
        );
        return r.temp_bans.map((b) => b.ip_address).sort();
      };
      await eventually('the restarted edgeban has its bans back', async () => (await table()).length === 2);
      for (const h of ['A', 'B'] as const)
        await eventually(
          `${h} equals the ban table after the restart`,
          async () => (await keys(h)).join() === (await table()).join(),
        );

      await api(edge, '/api/unban', { ip_address: BANNED });
      for (const h of ['A', 'B'] as const)
        await eventually(`${h} drops the unbanned entry`, async () => (await keys(h)).join() === PREFIX);
      assert.equal((await frontGet(p.web, BANNED)).status, 200);

      await api(edge, '/api/ban', { ip_address: '127.0.0.7', duration: '2s' });
      await eventually('the short ban arrives', async () => (await keys('B')).includes('127.0.0.7'));
      await eventually(
        'the short ban expires out of the map',
        async () => !(await keys('B')).includes('127.0.0.7'),
        8000,
      );

      // edgeban stopped; both HAProxies reload and find the bans in the file
      edge.proc.kill('SIGTERM');
      await edge.exited;
      edge = null;
      assert.equal(readFileSync(map, 'utf8'), `${PREFIX} banned\n`);
      hapA.proc.kill('SIGUSR2');
      await eventually('A reloaded', () => hapA.log.split('Loading success').length > 2);
      const old = hapB;
      hapB = await HaproxyProcess.start(
        { 'haproxy.cfg': plainConfig(map, p) },
        [p.webB],
        ['-sf', String(old.proc.pid)],
        bin,
      );
      if (old.proc.exitCode === null) await new Promise((r) => old.proc.once('exit', r));
      await eventually(
        'the reloaded A has the ban from the file',
        async () => (await keys('A')).join() === PREFIX,
      );
      assert.deepEqual(await keys('B'), [PREFIX]);
      assert.equal((await frontGet(p.web, IN_PREFIX)).status, 403);
      assert.equal((await frontGet(webB(), IN_PREFIX)).status, 403);
      assert.equal((await frontGet(webB(), BANNED)).status, 200);
    });
  });
}

suite('HAProxy 2.6', findBinary('haproxy'), '', peerMissing('haproxy'));
const h3 = haproxy3();
const h3bin = typeof h3 === 'string' ? null : h3;
suite(
  `HAProxy ${h3bin?.text ?? '3.x'}`,
  h3bin?.bin ?? null,
  h3bin && atLeast(h3bin, 3, 1) ? '-3.1' : '-3.0',
  typeof h3 === 'string' ? h3 : false,
);
