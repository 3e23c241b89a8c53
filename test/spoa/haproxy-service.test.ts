import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type AppHarness, startApp } from '../helpers/app.js';
import {
  atLeast,
  serviceExample as files,
  frontGet,
  HaproxyProcess,
  haproxy3,
  haproxyVersion,
  type ServicePorts as Ports,
  tcpBanner,
} from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

// Scoped verdicts through a real HAProxy: the shipped example's two frontends (HTTP, and the
// IMAP/SMTP TCP one) in one process, each SPOE message naming its service, against the whole
// app in this process. 127.0.0.5 is banned for imap only, 127.0.0.6 everywhere.

const IMAP_ONLY = '127.0.0.5';
const GLOBAL = '127.0.0.6';
const CLEAN = '127.0.0.1';

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
