import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { sleep } from '../helpers/abuse.js';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { frontGet, type HaproxyProcess, startExampleHaproxy } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { findBinary, peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The console in a real browser (Debian's Chromium, driven by playwright-core) against a running
 * `edgeban serve` behind a real HAProxy 2.6: refused without the API's credentials, a ban made
 * from `logger` lines shows up live, the address page explains it, its Unban button lifts it and
 * HAProxy lets the client in again. Screenshots of each view go to test-artifacts/console.
 */

const skip = peerMissing('chromium', 'haproxy', 'logger');
const ADMIN = { username: 'admin', password: 'console-admin-pw' };
const VIEWER = { username: 'viewer', password: 'console-viewer-pw' };
const CLIENT = '127.0.0.9';
const ARTIFACTS = join(
  process.env.EDGEBAN_ARTIFACTS ?? join(import.meta.dirname, '..', '..', '..', 'test-artifacts'),
  'console',
);

const basic = (c: { username: string; password: string }) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

function loggerLine(port: number, msg: string): void {
  const r = spawnSync('logger', [
    '--server',
    '127.0.0.1',
    '--port',
    String(port),
    '--udp',
    '--rfc3164',
    '-t',
    'dovecot',
    msg,
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
}

describe('the operator console in Chromium', { skip }, () => {
  let edge: EdgeProcess;
  let hap: HaproxyProcess;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  const ports = { web: 0, app: 0, agent: 0, imap: 0, smtp: 0, mail: 0 };
  const app = createServer((_req, res) => res.end('app'));
  const base = () => `http://127.0.0.1:${edge.http}`;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    edge = await startEdge(tempDir('edgeban-console-'), {
      FAIL2BAN_API_BASIC_AUTH_ENABLED: 'true',
      FAIL2BAN_API_BASIC_AUTH_USERNAME: ADMIN.username,
      FAIL2BAN_API_BASIC_AUTH_PASSWORD: ADMIN.password,
      FAIL2BAN_API_BASIC_AUTH_USERS: `${VIEWER.username}:${VIEWER.password}`,
      FAIL2BAN_API_READ_ONLY_USERS: VIEWER.username,
      FAIL2BAN_API_RATE_LIMITING_ENABLED: 'false',
      FAIL2BAN_BAN_MAX_ATTEMPTS: '3',
      FAIL2BAN_BAN_IGNORE_IPS: '::1/128',
    });
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    ports.agent = edge.spoa;
    hap = await startExampleHaproxy(ports);
    browser = await chromium.launch({
      executablePath: findBinary('chromium') ?? 'chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    admin = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1280, height: 900 } });
    page = await admin.newPage();
  });

  after(async () => {
    await browser?.close();
    await hap?.stop();
    edge?.proc.kill();
    app.close();
  });

  test('without credentials the console is refused', async () => {
    const ctx = await browser.newContext();
    const res = await ctx.request.get(`${base()}/ui/`);
    assert.equal(res.status(), 401);
    assert.doesNotMatch(await res.text(), /view-overview/);
    assert.equal((await ctx.request.get(`${base()}/api/console/overview`)).status(), 401);
    // the browser gives up on the page: it was asked for credentials it does not have
    const p = await ctx.newPage();
    const nav = await p.goto(`${base()}/ui/`).then(
      (r) => String(r?.status()),
      (err: Error) => err.message,
    );
    assert.match(nav, /401|ERR_INVALID_AUTH_CREDENTIALS/);
    await ctx.close();
  });

  test('with credentials it loads, from its own origin only, with cache headers', async () => {
    const res = await page.goto(`${base()}/ui/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.waitForSelector('#cards .card');
    // no request left the origin (no CDN): every script and stylesheet came from /ui/assets
    const assets = (await page.evaluate(
      "[...document.querySelectorAll('script[src], link[rel=stylesheet]')].map((e) => e.src || e.href)",
    )) as string[];
    assert.ok(assets.length >= 2);
    for (const a of assets) assert.ok(a.startsWith(`${base()}/ui/assets/`), a);
    const js = await fetch(assets.find((a) => a.endsWith('.js')) ?? '', {
      headers: { authorization: basic(ADMIN) },
    });
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
  });

  test('a ban made from logger lines appears live; the address page explains it; Unban lifts it in HAProxy', async () => {
    assert.equal((await frontGet(ports.web, CLIENT)).status, 200, 'the client passes before its failures');
    await page.evaluate('window.marker = 42');
    const sent = Date.now();
    for (let i = 0; i < 3; i++)
      loggerLine(
        edge.syslog,
        `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u${i}>, method=PLAIN, rip=${CLIENT}, lip=192.0.2.1`,
      );
    const row = page.locator(`#live li[data-ip="${CLIENT}"][data-type="ban"]`);
    await row.first().waitFor({ timeout: 10_000 });
    const shownAfter = Date.now() - sent;
    console.log(`# ban shown in the console ${shownAfter} ms after the first logger line`);
    assert.equal(await page.evaluate('window.marker'), 42, 'the page reloaded');
    assert.equal(
      (await frontGet(ports.web, CLIENT)).status,
      403,
      'HAProxy does not refuse the banned client',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });

    await row.first().locator('a').click();
    await page.waitForSelector('#ip-state.verdict-banned');
    const facts = await page.locator('#ip-facts').innerText();
    assert.match(facts, /temp/);
    assert.match(facts, /offences \(escalation\)\s+1/);
    // the events list is filled by its own request, after the verdict: wait for it
    await page
      .locator('#ip-events li')
      .first()
      .waitFor({ timeout: 5000 })
      .catch(() => {});
    assert.ok((await page.locator('#ip-events li').count()) >= 1, 'no event of the address listed');
    await page.screenshot({ path: join(ARTIFACTS, 'address.png'), fullPage: true });

    await page.click('#btn-unban');
    await page.waitForSelector('#ip-state.verdict-allowed');
    // the lifted ban is now the address's history: ended by an unban from the console's user
    const lifted = page.locator('#ip-history tr[data-end="unban"]');
    await lifted.first().waitFor({ timeout: 5000 });
    assert.equal(await lifted.first().locator('td').nth(1).textContent(), 'unban');
    assert.equal(await lifted.first().locator('td').nth(2).textContent(), ADMIN.username);
    assert.equal(await page.locator('#ip-history-note').textContent(), '1 shown of 1');
    await page.screenshot({ path: join(ARTIFACTS, 'address-history.png'), fullPage: true });
    const end = Date.now() + 5000;
    let status = 0;
    for (;;) {
      status = (await frontGet(ports.web, CLIENT)).status;
      if (status === 200 || Date.now() > end) break;
      await sleep(100);
    }
    assert.equal(status, 200, 'HAProxy still refuses the client after Unban');
    // the overview's live list (hidden on this view) got the unban too
    await page
      .locator(`#live li[data-ip="${CLIENT}"][data-type="unban"]`)
      .first()
      .waitFor({ state: 'attached' });
  });

  test('the bans view pages and filters on the server', async () => {
    for (let i = 1; i <= 60; i++) {
      const res = await fetch(`${base()}/api/ban`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic(ADMIN) },
        body: JSON.stringify({ ip_address: `198.51.100.${i}`, duration: 3600, reason: `bulk ${i}` }),
      });
      assert.equal(res.status, 200);
    }
    await page.goto(`${base()}/ui/#/bans`);
    await page.waitForSelector('#ban-table tr:nth-child(51)');
    assert.equal(await page.locator('#ban-table tr').count(), 51, 'a page is 50 rows and a header');
    assert.match(await page.locator('#ban-count').innerText(), /^60 active/);
    await page.fill('#ban-filter', '198.51.100.7');
    await page.click('#ban-search button');
    // polled from here: the page's CSP forbids the string evaluation waitForFunction would use
    for (const end = Date.now() + 5000; (await page.locator('#ban-table tr').count()) !== 2; ) {
      assert.ok(Date.now() < end, 'the filtered table never showed one row');
      await sleep(50);
    }
    assert.match(await page.locator('#ban-table').innerText(), /198\.51\.100\.7\b/);
    await page.screenshot({ path: join(ARTIFACTS, 'bans.png'), fullPage: true });
  });

  test('log text in a ban reason is shown as text, never run', async () => {
    await page.goto(`${base()}/ui/`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    const evil = '<img src=x onerror="window.pwned=1">';
    await fetch(`${base()}/api/ban`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic(ADMIN) },
      body: JSON.stringify({ ip_address: '203.0.113.66', duration: 60, reason: evil }),
    });
    const row = page.locator('#live li[data-ip="203.0.113.66"]').first();
    await row.waitFor();
    assert.ok((await row.innerText()).includes(evil));
    assert.equal(await page.locator('#live img').count(), 0);
    assert.equal(await page.evaluate('window.pwned'), undefined);
  });

  test('a read-only user sees the console without the buttons, and the API refuses its changes', async () => {
    const ctx = await browser.newContext({ httpCredentials: VIEWER, viewport: { width: 390, height: 844 } });
    const p = await ctx.newPage();
    await p.goto(`${base()}/ui/#/ip/${CLIENT}`);
    await p.waitForSelector('#ip-state');
    assert.equal(await p.locator('#btn-ban').isDisabled(), true);
    assert.equal(await p.locator('#btn-unban').isDisabled(), true);
    // a phone's width: nothing wider than the screen
    assert.equal(await p.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), true);
    await p.screenshot({ path: join(ARTIFACTS, 'phone-address.png'), fullPage: true });
    const res = await fetch(`${base()}/api/ban`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic(VIEWER) },
      body: JSON.stringify({ ip_address: '203.0.113.67', duration: 60 }),
    });
    assert.equal(res.status, 403);
    await ctx.close();
  });
});
