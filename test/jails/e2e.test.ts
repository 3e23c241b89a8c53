import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import {
  frontGet,
  HaproxyProcess,
  haproxyVersion,
  type ServicePorts,
  serviceExample,
  tcpBanner,
} from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';
import { sendWithLogger } from '../ingest/harness.js';

// Jails end to end: log lines through `logger` (UDP and TCP) into a real `edgeban serve` whose
// config has three jails with their own thresholds and scopes, answered through a real HAProxy
// whose two frontends name their service in the SPOE message.
const CONFIG = `
ban:
  ignore_ips: []
syslog:
  protocol: both
  patterns:
    - name: sshd-failed
      regex: '^sshd: Failed password for (?:invalid user )?\\S+ from (?<ip>[0-9a-fA-F.:]+) port \\d+'
      ip_group: ip
    - name: dovecot-auth-failed
      regex: '^dovecot: imap-login: Disconnected \\(auth failed.*?rip=(?<ip>[0-9a-fA-F.:]+)'
      ip_group: ip
    - name: nginx-botsearch
      regex: '^nginx: (?<ip>[0-9a-fA-F.:]+) - \\S+ \\[[^\\]]*\\] "GET \\S+ HTTP/1\\.[01]" 404 '
      ip_group: ip
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 3
    time_window: "10m"
    initial_ban_time: "1h"
  web:
    patterns: [nginx-*]
    max_attempts: 20
    time_window: "1m"
    initial_ban_time: "10m"
    services: [http]
  mail:
    patterns: [dovecot-*]
    max_attempts: 3
    time_window: "10m"
    initial_ban_time: "30m"
    services: [imap, smtp]
`;

interface JailView {
  jail: string;
  failures: number;
  threshold: number;
  ban: { services: string[] } | null;
}
interface Status {
  banned: boolean;
  jails: JailView[];
}

const sshd = (ip: string, n: number) => `Failed password for user${n} from ${ip} port ${40000 + n} ssh2`;
const dovecot = (ip: string, n: number) =>
  `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u${n}>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
const botsearch = (ip: string, n: number) =>
  `${ip} - - [02/Dec/2026:10:00:00 +0000] "GET /wp-login.php?x=${n} HTTP/1.1" 404 153 "-" "scanner"`;

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const jailOf = (st: Status, name: string): JailView => {
  const j = st.jails.find((x) => x.jail === name);
  assert.ok(j, `no jail ${name} in ${JSON.stringify(st.jails)}`);
  return j;
};

const h26 = findBinary('haproxy');
const v26 = h26 ? haproxyVersion(h26) : null;
const noHaproxy =
  v26 === null ? 'haproxy not installed' : v26.version[0] >= 3 ? `haproxy is ${v26.text}` : false;

describe('jails from logger lines to HAProxy verdicts', () => {
  let edge: EdgeProcess;
  const dir = tempDir('edgeban-jails-e2e-');

  before(async () => {
    writeFileSync(join(dir, 'config.yaml'), CONFIG);
    edge = await startEdge(dir);
    await edge.waitFor('"msg":"edgeban started"', 20_000);
  });

  after(async () => {
    if (edge && edge.proc.exitCode === null) {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });

  test('sshd over UDP: 3 failures ban everywhere', async () => {
    const ip = '198.51.100.11';
    for (let i = 0; i < 2; i++) await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'sshd', sshd(ip, i));
    await until(
      async () => jailOf(await api<Status>(edge, `/api/bans/${ip}`), 'sshd').failures === 2,
      'two sshd failures',
    );
    assert.equal((await api<Status>(edge, `/api/bans/${ip}`)).banned, false);
    await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'sshd', sshd(ip, 2));
    await until(async () => (await api<Status>(edge, `/api/bans/${ip}`)).banned, 'the sshd ban');
    const st = await api<Status>(edge, `/api/bans/${ip}`);
    assert.deepEqual(jailOf(st, 'sshd').ban?.services, []);
    assert.equal(jailOf(st, 'sshd').threshold, 3);
  });

  test('nginx-botsearch over TCP: 3 probes do not ban, 20 ban for http only', async () => {
    const ip = '198.51.100.12';
    for (let i = 0; i < 3; i++)
      await sendWithLogger(edge.syslog, 'tcp', 'rfc3164', 'nginx', botsearch(ip, i));
    await until(
      async () => jailOf(await api<Status>(edge, `/api/bans/${ip}`), 'web').failures === 3,
      'three probes counted',
    );
    const three = await api<Status>(edge, `/api/bans/${ip}`);
    assert.equal(three.banned, false, 'sshd would have banned at 3; the web jail waits for 20');
    assert.equal(jailOf(three, 'web').threshold, 20);
    for (let i = 3; i < 20; i++)
      await sendWithLogger(edge.syslog, 'tcp', 'rfc3164', 'nginx', botsearch(ip, i));
    await until(
      async () => jailOf(await api<Status>(edge, `/api/bans/${ip}`), 'web').ban !== null,
      'the web ban',
    );
    assert.deepEqual(jailOf(await api<Status>(edge, `/api/bans/${ip}`), 'web').ban?.services, ['http']);
  });

  describe('a mail-only ban through HAProxy 2.6', { skip: noHaproxy }, () => {
    let hap: HaproxyProcess;
    const ports: ServicePorts = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
    const app = createHttpServer((_req, res) => res.end('app'));
    const banner = createServer((s) => {
      s.on('error', () => {});
      s.end('* OK ready\r\n');
    });
    const MAIL = '127.0.0.5';
    const WEB = '127.0.0.6';

    before(async () => {
      for (const k of ['web', 'imap', 'smtp', 'app', 'banner'] as const) ports[k] = await freePort();
      ports.agent = edge.spoa;
      await new Promise<void>((r) => banner.listen(ports.banner, '127.0.0.1', r));
      await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
      hap = await HaproxyProcess.start(
        serviceExample(tempDir('edgeban-jails-hap-'), '', ports),
        [ports.web, ports.imap],
        [],
        h26,
      );
      await hap.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
    });

    after(async () => {
      await hap?.stop();
      banner.close();
      app.close();
    });

    test('3 dovecot failures: the IMAP frontend refuses the client, the HTTP frontend serves it', async () => {
      assert.match(await tcpBanner(ports.imap, MAIL), /^\* OK/, 'not banned yet');
      for (let i = 0; i < 3; i++)
        await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'dovecot', dovecot(MAIL, i));
      await until(
        async () => jailOf(await api<Status>(edge, `/api/bans/${MAIL}`), 'mail').ban !== null,
        'mail ban',
      );
      assert.deepEqual(jailOf(await api<Status>(edge, `/api/bans/${MAIL}`), 'mail').ban?.services, [
        'imap',
        'smtp',
      ]);
      assert.equal(await tcpBanner(ports.imap, MAIL), '');
      assert.equal(await tcpBanner(ports.smtp, MAIL), '');
      const web = await frontGet(ports.web, MAIL);
      assert.equal(web.status, 200);
      assert.equal(web.body, 'app');
    });

    test('20 probes: the web jail refuses HTTP and leaves IMAP open', async () => {
      for (let i = 0; i < 20; i++)
        await sendWithLogger(edge.syslog, 'tcp', 'rfc3164', 'nginx', botsearch(WEB, i));
      await until(
        async () => jailOf(await api<Status>(edge, `/api/bans/${WEB}`), 'web').ban !== null,
        'web ban',
      );
      assert.equal((await frontGet(ports.web, WEB)).status, 403);
      assert.match(await tcpBanner(ports.imap, WEB), /^\* OK/);
    });
  });

  test('a restart keeps the jails, their scoped bans and their counts', async () => {
    // two of sshd's three failures before the restart, the third after it
    const slow = '198.51.100.13';
    for (let i = 0; i < 2; i++) await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'sshd', sshd(slow, i));
    await until(
      async () => jailOf(await api<Status>(edge, `/api/bans/${slow}`), 'sshd').failures === 2,
      'two failures before the restart',
    );
    edge.proc.kill('SIGTERM');
    await edge.exited;
    edge = await startEdge(dir);
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    await until(
      async () => jailOf(await api<Status>(edge, '/api/bans/198.51.100.12'), 'web').ban !== null,
      'the web ban restored',
    );
    const web = await api<Status>(edge, '/api/bans/198.51.100.12');
    assert.deepEqual(jailOf(web, 'web').ban?.services, ['http']);
    assert.equal((await api<Status>(edge, '/api/bans/198.51.100.11')).banned, true);
    assert.equal(
      jailOf(await api<Status>(edge, `/api/bans/${slow}`), 'sshd').failures,
      2,
      'the count came back',
    );
    await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'sshd', sshd(slow, 2));
    await until(
      async () => (await api<Status>(edge, `/api/bans/${slow}`)).banned,
      'the ban at the third failure',
    );
  });
});
