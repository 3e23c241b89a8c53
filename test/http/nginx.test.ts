import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { freePort } from '../helpers/net.js';
import { httpTemps, MAIL_MODULE, NginxProcess, nginxMain, nginxTest } from '../helpers/nginx.js';
import { peerMissing } from '../helpers/peers.js';
import { type HttpHarness, startHttp } from './harness.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples', 'nginx');
const httpExample = readFileSync(join(EXAMPLES, 'edgeban-http.conf'), 'utf8');
const mailExample = readFileSync(join(EXAMPLES, 'edgeban-mail.conf'), 'utf8');
const skip = peerMissing('nginx');

describe('examples/nginx pass nginx -t', { skip }, () => {
  test('edgeban-http.conf inside http {}', async () => {
    const dir = NginxProcess.tempDir();
    const out = await nginxTest(dir, `${nginxMain(dir)}http {\n${httpTemps(dir)}\n${httpExample}\n}\n`);
    assert.match(out, /test is successful/);
  });

  test('edgeban-mail.conf at the top level (libnginx-mod-mail)', {
    skip: peerMissing(MAIL_MODULE),
  }, async () => {
    const dir = NginxProcess.tempDir();
    const out = await nginxTest(dir, `${nginxMain(dir, { mail: true })}${mailExample}\n`);
    assert.match(out, /test is successful/);
  });
});

describe('a real Nginx asks edgeban with auth_request', { skip }, () => {
  let h: HttpHarness;
  let nginx: NginxProcess;
  let upstream: Server;
  let front: number;
  const from2 = new Agent({ localAddress: '127.0.0.2' });
  const from1 = new Agent({ localAddress: '127.0.0.1' });

  before(async () => {
    h = await startHttp();
    upstream = createHttpServer((req, res) => res.end(`upstream saw ${req.headers['x-fail2ban-status']}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = (upstream.address() as { port: number }).port;
    front = await freePort();
    const dir = NginxProcess.tempDir();
    // the shipped example, only its ports changed
    const site = httpExample
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
    await from1.close();
    await from2.close();
  });

  const get = async (agent: Agent) => {
    const r = await request(`http://127.0.0.1:${front}/page`, { dispatcher: agent });
    return { status: r.statusCode, body: await r.body.text(), reason: r.headers['x-fail2ban-reason'] };
  };

  test('others reach the upstream, a banned client gets 403 from Nginx', async () => {
    const ok = await get(from2);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'upstream saw allowed');
    const ban = await h.call('POST', '/api/ban', { body: { ip_address: '127.0.0.2', reason: 'nginx test' } });
    assert.equal(ban.status, 200);
    const denied = await get(from2);
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.body), { error: 'access_denied', ip: '127.0.0.2' });
    assert.equal(denied.reason, 'nginx test', "the ban's own reason reaches Nginx");
    const other = await get(from1);
    assert.equal(other.status, 200, 'another client is not affected');
    await h.call('POST', '/api/unban', { body: { ip_address: '127.0.0.2' } });
    assert.equal((await get(from2)).status, 200);
  });

  test('a hostile ban reason is header-safe and keeps the answer valid JSON', async () => {
    const evil = `x"} ,"admin":true \\ \r\nSet-Cookie: a=b\u0000é${'z'.repeat(400)}`;
    const ban = await h.call('POST', '/api/ban', { body: { ip_address: '127.0.0.2', reason: evil } });
    assert.equal(ban.status, 200);
    const denied = await get(from2);
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.body), { error: 'access_denied', ip: '127.0.0.2' });
    const reason = String(denied.reason);
    assert.match(reason, /^x'} ,'admin':true \/ \?\?Set-Cookie: a=b\?\?z+$/);
    assert.ok(reason.length <= 200);
    await h.call('POST', '/api/unban', { body: { ip_address: '127.0.0.2' } });
  });

  test('the banned client cannot lift its own ban through a forged header', async () => {
    h.engine.ban('127.0.0.2', {});
    const r = await request(`http://127.0.0.1:${front}/page`, {
      dispatcher: from2,
      headers: { 'x-forwarded-for': '127.0.0.1', 'x-original-ip': '127.0.0.1', 'x-real-ip': '127.0.0.1' },
    });
    await r.body.text();
    assert.equal(r.statusCode, 403);
    const api = await h.call('POST', '/api/unban', {
      from: '127.0.0.2',
      headers: { 'x-forwarded-for': '127.0.0.1' },
      body: { ip_address: '127.0.0.2' },
    });
    assert.equal(api.status, 403);
    assert.equal(h.engine.status('127.0.0.2').banned, true);
  });
});

/** A fake IMAP backend: accepts nginx's LOGIN (literal form) and says who logged in. */
function imapBackend(): Promise<{ server: NetServer; port: number; logins: string[] }> {
  const logins: string[] = [];
  const server = createServer((s) => {
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
          logins.push(line);
          s.write(`${tag} OK backend login done\r\n`);
        }
        i = buf.indexOf('\r\n');
      }
    });
    s.on('error', () => {});
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () =>
      r({ server, port: (server.address() as { port: number }).port, logins }),
    ),
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

describe('a real Nginx mail proxy asks edgeban with auth_http', {
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
    imap = await freePort();
    const [pop3, smtp] = [await freePort(), await freePort()];
    const dir = NginxProcess.tempDir();
    const mail = mailExample
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

  test('an allowed client is proxied to the IMAP backend', async () => {
    const answer = await imapLogin(imap, '127.0.0.1');
    assert.match(answer, /^a1 OK/);
    assert.equal(backend.logins.length, 1, 'the backend saw the login');
  });

  test('a banned client gets a temporary error and never reaches the backend', async () => {
    h.engine.ban('127.0.0.2', {});
    const before = backend.logins.length;
    const answer = await imapLogin(imap, '127.0.0.2');
    assert.match(answer, /^a1 NO .*try again later/);
    assert.equal(backend.logins.length, before);
  });
});
