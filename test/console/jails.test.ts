import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { sleep } from '../helpers/abuse.js';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The console's jails in Chromium: a jails view with each jail's rule, scope and live counts;
 * the bans view and the live list filtered by jail; the address page's per-jail explain (count
 * against threshold, scope, shadow, the lines that counted). Bans come from `logger` lines.
 */

const skip = peerMissing('chromium', 'logger');
const ARTIFACTS = join(
  process.env.EDGEBAN_ARTIFACTS ?? join(import.meta.dirname, '..', '..', '..', 'test-artifacts'),
  'console',
);

const CONFIG = `
ban:
  ignore_ips: []
api:
  rate_limiting:
    enabled: false
syslog:
  patterns:
    - name: sshd-failed
      regex: '^sshd: Failed password for (?:invalid user )?\\S+ from (?<ip>[0-9a-fA-F.:]+) port \\d+'
      ip_group: ip
    - name: dovecot-auth-failed
      regex: '^dovecot: imap-login: Disconnected \\(auth failed.*?rip=(?<ip>[0-9a-fA-F.:]+)'
      ip_group: ip
    - name: nginx-probe
      regex: '^nginx: (?<ip>[0-9a-fA-F.:]+) - \\S+ \\[[^\\]]*\\] "GET \\S+ HTTP/1\\.[01]" 404 '
      ip_group: ip
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 2
    time_window: "10m"
    initial_ban_time: "1h"
  mail:
    patterns: [dovecot-*]
    max_attempts: 3
    time_window: "10m"
    initial_ban_time: "30m"
    services: [imap, smtp]
  web:
    patterns: [nginx-*]
    max_attempts: 2
    time_window: "1m"
    initial_ban_time: "10m"
    mode: shadow
`;

const SSH_IP = '198.51.100.31';
const MAIL_IP = '198.51.100.32';
const WEB_IP = '198.51.100.33';
const SLOW_IP = '198.51.100.34';

function logger(port: number, tag: string, msg: string): void {
  const r = spawnSync('logger', [
    '--server',
    '127.0.0.1',
    '--port',
    String(port),
    '--udp',
    '--rfc3164',
    '-t',
    tag,
    msg,
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
}

const sshd = (ip: string, n: number) => `Failed password for user${n} from ${ip} port ${40000 + n} ssh2`;
const dovecot = (ip: string, n: number) =>
  `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<mailer${n}>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
const probe = (ip: string, n: number) =>
  `${ip} - - [02/Dec/2026:10:00:00 +0000] "GET /wp-login.php?x=${n} HTTP/1.1" 404 153 "-" "scanner"`;

/** Polls (the page's CSP forbids the string evaluation waitForFunction would use). */
async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('jails in the operator console', { skip }, () => {
  let edge: EdgeProcess;
  let browser: Browser;
  let page: Page;
  const base = () => `http://127.0.0.1:${edge.http}`;
  const banned = async (ip: string) =>
    ((await (await fetch(`${base()}/api/bans/${ip}`)).json()) as { banned: boolean }).banned;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const dir = tempDir('edgeban-console-jails-');
    writeFileSync(join(dir, 'config.yaml'), CONFIG);
    edge = await startEdge(dir);
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    browser = await chromium.launch({
      executablePath: findBinary('chromium') ?? 'chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  });

  after(async () => {
    await browser?.close();
    edge?.proc.kill();
  });

  test('the jails view lists each jail with its rule, scope and mode', async () => {
    await page.goto(`${base()}/ui/#/jails`);
    await page.waitForSelector('#jail-table tr[data-jail="sshd"]');
    const row = async (j: string) => page.locator(`#jail-table tr[data-jail="${j}"]`).innerText();
    assert.match(await row('sshd'), /enforce\s+2 in 10m → 1h\s+every service\s+0\s+0/);
    assert.match(await row('mail'), /3 in 10m → 30m\s+imap, smtp/);
    assert.match(await row('web'), /shadow\s+2 in 1m → 10m/);
    assert.match(await row('default'), /every service/);
  });

  test('bans made from logger lines show under their jail, in the live list and the bans view', async () => {
    await page.goto(`${base()}/ui/`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    for (let i = 0; i < 2; i++) logger(edge.syslog, 'sshd', sshd(SSH_IP, i));
    for (let i = 0; i < 3; i++) logger(edge.syslog, 'dovecot', dovecot(MAIL_IP, i));
    for (let i = 0; i < 2; i++) logger(edge.syslog, 'nginx', probe(WEB_IP, i));
    logger(edge.syslog, 'dovecot', dovecot(SLOW_IP, 7));
    await until(async () => (await banned(SSH_IP)) && (await banned(MAIL_IP)), 'the sshd and mail bans');
    await page.locator(`#live li[data-ip="${MAIL_IP}"][data-jail="mail"]`).waitFor();
    await page.locator(`#live li[data-ip="${SSH_IP}"][data-jail="sshd"]`).waitFor();
    assert.equal(await banned(WEB_IP), false, 'a shadow jail enforces nothing');

    // the live list of one jail
    await until(
      async () => (await page.locator('#live-jail option[value="sshd"]').count()) === 1,
      'the jail filter of the live list',
    );
    await page.selectOption('#live-jail', 'sshd');
    assert.equal(await page.locator(`#live li[data-ip="${MAIL_IP}"]`).first().isHidden(), true);
    assert.equal(await page.locator(`#live li[data-ip="${SSH_IP}"]`).first().isVisible(), true);
    await page.screenshot({ path: join(ARTIFACTS, 'live-by-jail.png'), fullPage: true });
    await page.selectOption('#live-jail', '');
    assert.equal(await page.locator(`#live li[data-ip="${MAIL_IP}"]`).first().isVisible(), true);

    // the jails view counts them, and names the offender
    await page.goto(`${base()}/ui/#/jails`);
    await until(
      async () => /\b1\s+1\b/.test(await page.locator('#jail-table tr[data-jail="mail"]').innerText()),
      'the mail jail counting its ban',
    );
    const mail = await page.locator('#jail-table tr[data-jail="mail"]').innerText();
    assert.ok(mail.includes(MAIL_IP), mail);
    assert.ok(!(await page.locator('#jail-table tr[data-jail="sshd"]').innerText()).includes(MAIL_IP));
    await page.screenshot({ path: join(ARTIFACTS, 'jails.png'), fullPage: true });

    // its link opens the bans view of that jail only, with the ban's services
    await page.click('#jail-table a[data-jail="mail"]');
    await until(
      async () => (await page.locator('#ban-table tr').count()) === 2,
      'the bans view of the mail jail',
    );
    const table = await page.locator('#ban-table').innerText();
    assert.ok(table.includes(MAIL_IP) && !table.includes(SSH_IP), table);
    assert.match(table, /mail\s+imap, smtp/);
    assert.equal(await page.locator('#ban-jail').inputValue(), 'mail');
    assert.match(await page.locator('#ban-count').innerText(), /^1 active in mail/);
    // a shadow jail's would-be bans, on request
    await page.selectOption('#ban-jail', 'web');
    await page.check('#ban-shadow');
    await until(
      async () => (await page.locator('#ban-table').innerText()).includes(WEB_IP),
      'the shadow ban',
    );
    assert.match(await page.locator('#ban-table').innerText(), /web \(shadow\)/);
    await page.screenshot({ path: join(ARTIFACTS, 'bans-shadow.png'), fullPage: true });
  });

  test('the address page explains each jail: count against threshold, scope, the lines that counted', async () => {
    await page.goto(`${base()}/ui/#/ip/${MAIL_IP}`);
    const mail = page.locator('#ip-jails .jail[data-jail="mail"]');
    await mail.waitFor();
    const text = await mail.innerText();
    // the count starts again at a ban; the lines that made it stay
    assert.match(text, /0\/3 failures in 10 min/);
    assert.match(text, /banned for (29|30) min, imap, smtp/);
    assert.equal(await mail.locator('.lines li').count(), 3);
    assert.match(await mail.locator('.lines li').nth(2).innerText(), /user=<mailer2>.*rip=198\.51\.100\.32/);
    await page.screenshot({ path: join(ARTIFACTS, 'address-jails.png'), fullPage: true });

    await page.goto(`${base()}/ui/#/ip/${SLOW_IP}`);
    const slow = page.locator('#ip-jails .jail[data-jail="mail"]');
    await slow.waitFor();
    assert.match(await slow.innerText(), /1\/3 failures in 10 min · not banned/);
    assert.equal(await slow.locator('.lines li').count(), 1);

    await page.goto(`${base()}/ui/#/ip/${WEB_IP}`);
    const web = page.locator('#ip-jails .jail[data-jail="web"]');
    await web.waitFor();
    assert.match(await web.innerText(), /would be banned \(shadow\)/);
    assert.match(await page.locator('#ip-state').innerText(), /allowed/);
  });
});
