import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import type { BanTable } from '../../src/shared/bantable/index.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { freePort } from '../helpers/net.js';
import { httpTemps, MAIL_MODULE, NginxProcess, nginxMain } from '../helpers/nginx.js';
import { peerMissing } from '../helpers/peers.js';
import { type HttpHarness, startHttp } from './harness.js';

// Scoped verdicts through Nginx: the shipped http example names its service in X-Service, the
// mail proxy's Auth-Protocol names imap/pop3/smtp. 127.0.0.5 is banned for http only,
// 127.0.0.6 for imap only, 127.0.0.7 everywhere.
const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples', 'nginx');
const skip = peerMissing('nginx');

const HTTP_ONLY = '127.0.0.5';
const IMAP_ONLY = '127.0.0.6';
const GLOBAL = '127.0.0.7';

function scopedBans(table: BanTable): void {
  const until = Math.floor(Date.now() / 1000) + 600;
  const reason = table.reasonId('scoped test');
  for (const [ip, service] of [
    [HTTP_ONLY, 'http'],
    [IMAP_ONLY, 'imap'],
  ] as const) {
    const a = parseIp(ip);
    table.setScoped(table.services.register(service), a.bytes, 4, 32, until, 1, reason);
  }
  const g = parseIp(GLOBAL);
  table.set(g.bytes, 4, 32, 1, until, 1, reason);
}

describe('a real Nginx (auth_request) names its service with X-Service', { skip }, () => {
  let h: HttpHarness;
  let nginx: NginxProcess;
  let upstream: Server;
  let front: number;
  const agents = new Map<string, Agent>();
  const from = (ip: string) => {
    let a = agents.get(ip);
    if (!a) {
      a = new Agent({ localAddress: ip });
      agents.set(ip, a);
    }
    return a;
  };

  before(async () => {
    h = await startHttp();
    scopedBans(h.table);
    upstream = createHttpServer((_req, res) => res.end('upstream'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = (upstream.address() as { port: number }).port;
    front = await freePort();
    const dir = NginxProcess.tempDir();
    const example = readFileSync(join(EXAMPLES, 'edgeban-http.conf'), 'utf8');
    assert.match(example, /proxy_set_header X-Service http;/);
    const site = example
      .replace('server 127.0.0.1:8888;', `server 127.0.0.1:${h.port};`)
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${up};`)
      .replace('listen 80;', `listen 127.0.0.1:${front};`);
    nginx = await NginxProcess.start(
      dir,
      `${nginxMain(dir)}http {\n${httpTemps(dir)}\naccess_log off;\n${site}\n}\n`,
      [front],
    );
  });
  after(async () => {
    await nginx?.stop();
    upstream?.close();
    await h?.close();
    for (const a of agents.values()) await a.close();
  });

  const get = async (ip: string, headers: Record<string, string> = {}) => {
    const r = await request(`http://127.0.0.1:${front}/page`, { dispatcher: from(ip), headers });
    await r.body.text();
    return r.statusCode;
  };

  test('a ban scoped to http refuses the site; one scoped to imap does not; a global one does', async () => {
    assert.equal(await get(HTTP_ONLY), 403);
    assert.equal(await get(IMAP_ONLY), 200);
    assert.equal(await get(GLOBAL), 403);
    assert.equal(await get('127.0.0.1'), 200);
  });

  test("the client's own X-Service cannot change the service nginx names", async () => {
    assert.equal(await get(HTTP_ONLY, { 'x-service': 'imap' }), 403);
    assert.equal(await get(HTTP_ONLY, { 'x-service': 'nothing-scoped' }), 403);
  });
});

describe('/auth: the service a request names (X-Service, Auth-Protocol)', () => {
  let h: HttpHarness;
  before(async () => {
    // only 127.0.0.1 is nginx: another peer's X-Service is not believed
    h = await startHttp((c) => {
      c.nginx.trusted_proxies = ['127.0.0.1/32'];
      c.nginx.mail.imap = '127.0.0.1:1143';
      c.nginx.mail.pop3 = '127.0.0.1:1110';
    });
    scopedBans(h.table);
    h.table.services.register('pop3');
  });
  after(async () => h?.close());

  const auth = async (ip: string, headers: Record<string, string>, peer = '127.0.0.1') => {
    const r = await h.call('GET', '/auth', { headers: { 'x-original-ip': ip, ...headers }, from: peer });
    return r.status;
  };
  const mail = async (
    ip: string,
    protocol: string,
    extra: Record<string, string> = {},
    peer = '127.0.0.1',
  ) => {
    const r = await h.call('GET', '/auth', {
      headers: { 'auth-protocol': protocol, 'client-ip': ip, 'auth-method': 'plain', ...extra },
      from: peer,
    });
    assert.equal(r.status, 200);
    return String(r.headers['x-fail2ban-status']);
  };

  test('X-Service: its own scoped bans and the global ones; none named: every ban', async () => {
    assert.equal(await auth(HTTP_ONLY, { 'x-service': 'http' }), 403);
    assert.equal(await auth(HTTP_ONLY, { 'x-service': 'HTTP' }), 403);
    assert.equal(await auth(HTTP_ONLY, { 'x-service': 'imap' }), 200);
    assert.equal(await auth(IMAP_ONLY, { 'x-service': 'http' }), 200);
    assert.equal(await auth(GLOBAL, { 'x-service': 'http' }), 403);
    assert.equal(await auth(HTTP_ONLY, {}), 403);
    assert.equal(await auth(IMAP_ONLY, {}), 403);
  });

  test('an unknown, too long or repeated X-Service sees only the global bans', async () => {
    for (const s of ['smtp2', 'h'.repeat(33), `http${'x'.repeat(5000)}`, 'http, imap']) {
      assert.equal(await auth(HTTP_ONLY, { 'x-service': s }), 200, s.slice(0, 40));
      assert.equal(await auth(GLOBAL, { 'x-service': s }), 403, s.slice(0, 40));
    }
  });

  test('the mail proxy: Auth-Protocol names the service, X-Service overrides it', async () => {
    assert.equal(await mail(IMAP_ONLY, 'imap'), 'denied');
    assert.equal(await mail(IMAP_ONLY, 'IMAP'), 'denied');
    assert.equal(await mail(IMAP_ONLY, 'pop3'), 'allowed');
    assert.equal(await mail(HTTP_ONLY, 'imap'), 'allowed');
    assert.equal(await mail(GLOBAL, 'pop3'), 'denied');
    assert.equal(await mail(IMAP_ONLY, 'pop3', { 'x-service': 'imap' }), 'denied');
    assert.equal(await mail(IMAP_ONLY, 'imap', { 'x-service': 'pop3' }), 'allowed');
  });

  test('a peer that is not nginx names no service: every ban counts', async () => {
    // judged by its own address (127.0.0.5 is banned for http only)
    assert.equal(await auth('127.0.0.1', { 'x-service': 'imap' }, HTTP_ONLY), 403);
    assert.equal(await mail('127.0.0.1', 'imap', {}, HTTP_ONLY), 'denied');
    assert.equal(await mail('127.0.0.1', 'pop3', { 'x-service': 'smtp' }, IMAP_ONLY), 'denied');
  });
});

/** A fake IMAP backend: accepts nginx's LOGIN (literal form) and says OK. */
function imapBackend(): Promise<{ server: NetServer; port: number; logins: number }> {
  const state = { server: null as unknown as NetServer, port: 0, logins: 0 };
  state.server = createServer((s) => {
    s.write('* OK fake backend ready\r\n');
    let buf = '';
    let tag = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i = buf.indexOf('\r\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!tag) tag = line.split(' ')[0];
        if (line.endsWith('}')) s.write('+ go ahead\r\n');
        else {
          state.logins++;
          s.write(`${tag} OK backend login done\r\n`);
        }
        i = buf.indexOf('\r\n');
      }
    });
    s.on('error', () => {});
  });
  return new Promise((r) =>
    state.server.listen(0, '127.0.0.1', () => {
      state.port = (state.server.address() as { port: number }).port;
      r(state);
    }),
  );
}

function imapLogin(port: number, from: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ port, host: '127.0.0.1', localAddress: from });
    let text = '';
    let sent = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer: ${text}`));
    }, 10_000);
    s.on('data', (d) => {
      text += d.toString();
      if (!sent && text.includes('\r\n')) {
        sent = true;
        s.write('a1 LOGIN alice secret\r\n');
      }
      const m = /a1 (OK|NO|BAD)[^\r]*\r\n/.exec(text);
      if (m) {
        clearTimeout(timer);
        s.destroy();
        resolve(m[0].trim());
      }
    });
    s.on('error', reject);
  });
}

describe('a real Nginx mail proxy names its service with Auth-Protocol', {
  skip: skip || peerMissing(MAIL_MODULE),
}, () => {
  let h: HttpHarness;
  let nginx: NginxProcess;
  let backend: Awaited<ReturnType<typeof imapBackend>>;
  let imap: number;

  before(async () => {
    backend = await imapBackend();
    h = await startHttp((c) => {
      c.nginx.mail.imap = `127.0.0.1:${backend.port}`;
    });
    scopedBans(h.table);
    imap = await freePort();
    const [pop3, smtp] = [await freePort(), await freePort()];
    const dir = NginxProcess.tempDir();
    const mail = readFileSync(join(EXAMPLES, 'edgeban-mail.conf'), 'utf8')
      .replace('127.0.0.1:8888/auth', `127.0.0.1:${h.port}/auth`)
      .replace('listen 143;', `listen 127.0.0.1:${imap};`)
      .replace('listen 110;', `listen 127.0.0.1:${pop3};`)
      .replace('listen 587;', `listen 127.0.0.1:${smtp};`);
    nginx = await NginxProcess.start(dir, `${nginxMain(dir, { mail: true })}${mail}\n`, [imap]);
  });
  after(async () => {
    await nginx?.stop();
    backend?.server.close();
    await h?.close();
  });

  test('an imap-scoped ban refuses the IMAP login; an http-scoped one lets it through', async () => {
    const before = backend.logins;
    assert.match(await imapLogin(imap, IMAP_ONLY), /^a1 NO .*try again later/);
    assert.equal(backend.logins, before, 'the refused login never reached the backend');
    assert.match(await imapLogin(imap, HTTP_ONLY), /^a1 OK/);
    assert.equal(backend.logins, before + 1);
    assert.match(await imapLogin(imap, GLOBAL), /^a1 NO .*try again later/);
  });
});
