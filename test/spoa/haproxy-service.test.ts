import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AppHarness, startApp } from '../helpers/app.js';
import {
  atLeast,
  frontGet,
  HaproxyProcess,
  haproxy3,
  haproxyVersion,
  privatePaths,
  tcpBanner,
} from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

// Scoped verdicts through a real HAProxy: the shipped example's two frontends (HTTP, and the
// IMAP/SMTP TCP one) in one process, each SPOE message naming its service, against the whole
// app in this process. 127.0.0.5 is banned for imap only, 127.0.0.6 everywhere.
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

const IMAP_ONLY = '127.0.0.5';
const GLOBAL = '127.0.0.6';
const CLEAN = '127.0.0.1';

interface Ports {
  web: number;
  imap: number;
  smtp: number;
  agent: number;
  app: number;
  banner: number;
}

/** The shipped example `suffix` ('' for 2.x, '-3.0', '-3.1') on private ports and paths. */
function files(dir: string, suffix: string, ports: Ports): Record<string, string> {
  const spoe = join(dir, 'edgeban-spoe.conf');
  const map: Record<string, number> = {
    '8080': ports.web,
    '1143': ports.imap,
    '1587': ports.smtp,
    '8081': ports.app,
    '143': ports.banner,
    '587': ports.banner,
    '12345': ports.agent,
  };
  const cfg = privatePaths(readFileSync(join(examples, `haproxy${suffix}.cfg`), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', spoe)
    .replace(/127\.0\.0\.1:(\d+)/g, (m, p: string) => (map[p] ? `127.0.0.1:${map[p]}` : m))
    .replace('dst_port 1587', `dst_port ${ports.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
  // a shared 2-core box can take longer than the example's 100 ms; failing open would hide a ban
  const spoeText = readFileSync(join(examples, `edgeban-spoe${suffix}.conf`), 'utf8').replaceAll(
    'timeout processing 100ms',
    'timeout processing 2s',
  );
  assert.match(spoeText, /service=str\(http\)/, 'the HTTP message names its service');
  assert.match(spoeText, /service=so_name/, 'the TCP message names its service');
  assert.match(cfg, /name imap/);
  assert.match(cfg, /name smtp/);
  writeFileSync(spoe, spoeText);
  return { 'haproxy.cfg': cfg, 'edgeban-spoe.conf': spoeText };
}

function suite(label: string, bin: string | null, suffix: string, skip: string | false): void {
  describe(`${label}: a ban scoped to imap`, { skip }, () => {
    let edge: AppHarness;
    let hap: HaproxyProcess;
    const ports: Ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
    const app = createHttpServer((_req, res) => res.end('app'));
    const banner = createServer((s) => {
      s.on('error', () => {});
      s.end('* OK ready\r\n');
    });

    before(async () => {
      for (const k of ['web', 'imap', 'smtp', 'app', 'banner'] as const) ports[k] = await freePort();
      await new Promise<void>((r) => banner.listen(ports.banner, '127.0.0.1', r));
      await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
      edge = await startApp((c) => {
        c.envoy.enabled = false;
        c.nginx.enabled = false;
      });
      ports.agent = edge.ports.spoa;
      edge.ban(IMAP_ONLY, 'imap');
      edge.ban(GLOBAL, null);
      const dir = tempDir('edgeban-hapsvc-');
      hap = await HaproxyProcess.start(files(dir, suffix, ports), [ports.web, ports.imap], [], bin);
      await hap.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
    });

    after(async () => {
      await hap?.stop();
      await edge?.stop();
      banner.close();
      app.close();
    });

    test('the IMAP frontend refuses the client; the HTTP and SMTP ones serve it', async () => {
      assert.equal(await tcpBanner(ports.imap, IMAP_ONLY), '');
      assert.match(await tcpBanner(ports.smtp, IMAP_ONLY), /^\* OK/);
      const web = await frontGet(ports.web, IMAP_ONLY);
      assert.equal(web.status, 200);
      assert.equal(web.body, 'app');
    });

    test('a global ban refuses every frontend; a clean client gets through all of them', async () => {
      assert.equal(await tcpBanner(ports.imap, GLOBAL), '');
      assert.equal(await tcpBanner(ports.smtp, GLOBAL), '');
      assert.equal((await frontGet(ports.web, GLOBAL)).status, 403);
      assert.match(await tcpBanner(ports.imap, CLEAN), /^\* OK/);
      assert.equal((await frontGet(ports.web, CLEAN)).status, 200);
    });

    test('a ban scoped to http, made while HAProxy runs, refuses the web frontend only', async () => {
      edge.ban('127.0.0.7', 'http');
      assert.equal((await frontGet(ports.web, '127.0.0.7')).status, 403);
      assert.match(await tcpBanner(ports.imap, '127.0.0.7'), /^\* OK/);
    });

    test("HAProxy's NOTIFYs caused no protocol error and were all answered", async () => {
      const text = await edge.ctx.metrics.registry.metrics();
      const sum = (name: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
          .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      assert.equal(sum('edgeban_spoa_protocol_errors_total'), 0);
      assert.equal(sum('edgeban_spoa_handler_errors_total'), 0);
      assert.ok(sum('fail2ban_requests_total') >= 9, text);
    });
  });
}

const h26 = findBinary('haproxy');
const v26 = h26 ? haproxyVersion(h26) : null;
suite(
  `HAProxy ${v26?.text ?? '2.x'}`,
  h26,
  '',
  v26 === null ? 'haproxy not installed' : v26.version[0] >= 3 ? `haproxy on PATH is ${v26.text}` : false,
);
for (const which of ['lts', 'latest'] as const) {
  const found = haproxy3(which);
  if (typeof found === 'string') {
    suite(`HAProxy 3.x (${which})`, null, '-3.0', found);
    continue;
  }
  suite(`HAProxy ${found.text}`, found.bin, atLeast(found, 3, 1) ? '-3.1' : '-3.0', false);
}
