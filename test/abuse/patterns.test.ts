import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { api, type EdgeProcess, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const ENV = {
  FAIL2BAN_SYSLOG_PROTOCOL: 'both',
  FAIL2BAN_WORKERS_COUNT: '1',
  FAIL2BAN_DATABASE_REFRESH_INTERVAL: '200ms',
  FAIL2BAN_DATABASE_FLUSH_INTERVAL: '100ms',
};

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function call(edge: EdgeProcess, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${edge.http}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const metrics = async (edge: EdgeProcess) => (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();

/** Newline-framed lines over one TCP connection (a single write: one batch for the workers). */
function sendTcp(port: number, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(`${lines.join('\n')}\n`));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

interface PatternOut {
  id: number;
  name: string;
  error?: string;
  quarantined?: boolean;
  quarantined_since?: string;
  quarantine_reason?: string;
}

describe('abuse: patterns of a running edgeban', () => {
  let edge: EdgeProcess;
  let dir: string;
  before(async () => {
    // free ports are picked before edgeban binds them: with test files running side by side one
    // may be taken in between (EADDRINUSE), so try again with new ones
    for (let attempt = 1; ; attempt++) {
      dir = tempDir('edgeban-abuse-patterns-');
      edge = await startEdge(dir, ENV);
      try {
        await edge.waitFor('"msg":"edgeban started"', 20_000);
        break;
      } catch (err) {
        if (attempt >= 3 || !edge.out().includes('EADDRINUSE')) throw err;
        edge.proc.kill('SIGKILL');
        await edge.exited;
      }
    }
  });
  after(async () => {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  });

  test('SOGo and nginx lines with an address in the user name ban the real client, not the planted one', async () => {
    const sogo = `<38>Nov 24 16:05:50 mail sogod [3253]: SOGoRootPage Login from '203.0.113.150' for user 'x' might not have worked Login from '198.51.100.77' for user 'y' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0`;
    const ngx = `<38>Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 user "x" was not found in "/x", client: 198.51.100.78, server: " was not found in "/etc/nginx/.htpasswd", client: 203.0.113.151, server: example.com, request: "GET / HTTP/1.1", host: "example.com"`;
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => sogo),
    );
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => ngx),
    );
    await edge.waitFor(/"ip":"203\.0\.113\.150"[^\n]*"msg":"IP banned"/);
    await edge.waitFor(/"ip":"203\.0\.113\.151"[^\n]*"msg":"IP banned"/);
    assert.equal(await spopBanned(edge.spoa, '203.0.113.150'), 1);
    assert.equal(await spopBanned(edge.spoa, '203.0.113.151'), 1);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.77'), 0);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.78'), 0);
  });

  test('a pattern row that does not compile is skipped and reported; a valid row added later applies', async () => {
    const db = new Database(join(dir, 'fail2ban.db'), { timeout: 5000 });
    db.prepare(
      "INSERT INTO patterns (name, regex, ip_group, severity, description) VALUES ('broken', 'rip=([0-9]+', 1, 1, 'x')",
    ).run();
    db.close();
    await edge.waitFor('database pattern skipped', 10_000);
    const res = await call(edge, 'POST', '/api/patterns', {
      name: 'myapp-login',
      regex: 'myapp: login failed from ([0-9.]+)$',
      ip_group: 1,
      severity: 2,
    });
    assert.equal(res.status, 201);
    const line = (ip: string) => `<38>Nov 30 12:00:00 app myapp: login failed from ${ip}`;
    await sendLines(
      edge.syslog,
      Array.from({ length: 5 }, () => line('198.51.100.161')),
    );
    await edge.waitFor(/"ip":"198\.51\.100\.161"[^\n]*"pattern":"myapp-login"[^\n]*"msg":"IP banned"/);
    const list = await api<{ patterns: PatternOut[] }>(edge, '/api/patterns');
    const broken = list.patterns.find((p) => p.name === 'broken');
    assert.match(broken?.error ?? '', /invalid regex/);
    assert.equal(list.patterns.find((p) => p.name === 'myapp-login')?.error, undefined);
    const src = await api<{ patterns_rejected?: { name: string }[] }>(edge, '/config/source');
    assert.deepEqual(
      src.patterns_rejected?.map((r) => r.name),
      ['broken'],
    );
    assert.match(await metrics(edge), /^edgeban_patterns_rejected 1$/m);
    // logged once, not at every reload
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(edge.out().split('database pattern skipped').length - 1, 1);
  });

  test('a quarantined ReDoS pattern stays out after an unrelated pattern change, until lifted', async () => {
    const res = await call(edge, 'POST', '/api/patterns', { name: 'evil', regex: '(a+)+$', ip_group: 1 });
    assert.equal(res.status, 201);
    // ~8 KB hostile lines cost a fraction of a millisecond to milliseconds each on the linear-time
    // fallback, by the host's speed: a full batch of them (syslog.batch_size, 512) exceeds its
    // 50 ms budget even on a fast idle host (100 lines did not, once), the worker profiles the
    // next one and names the culprit
    const hostile = Array.from({ length: 512 }, () => `<38>Nov 30 12:00:00 x x: ${'a'.repeat(8000)}!`);
    for (let round = 0; round < 6 && !edge.out().includes('pattern quarantined'); round++) {
      await sendTcp(edge.syslog, hostile);
      await new Promise((r) => setTimeout(r, 300));
    }
    await edge.waitFor('pattern quarantined', 5000);
    const evil = async () =>
      (await api<{ patterns: PatternOut[] }>(edge, '/api/patterns')).patterns.find((p) => p.name === 'evil');
    assert.equal((await evil())?.quarantined, true);
    // an unrelated change reloads the set: evil stays out
    const other = await call(edge, 'POST', '/api/patterns', {
      name: 'unrelated',
      regex: 'unrelated: bad from ([0-9.]+)$',
      ip_group: 1,
    });
    assert.equal(other.status, 201);
    // the same hostile traffic again: evil does not run, so nothing is quarantined a second time
    await sendTcp(edge.syslog, hostile);
    await sendLines(edge.syslog, [`<38>Nov 30 12:00:00 app unrelated: bad from 198.51.100.170`]);
    await until(
      async () => /pattern_matches_total\{pattern="unrelated"/.test(await metrics(edge)),
      10_000,
      'the lines after the hostile batch',
    );
    const e = await evil();
    assert.equal(e?.quarantined, true);
    assert.ok(e?.quarantined_since && !Number.isNaN(Date.parse(e.quarantined_since)));
    assert.match(e?.quarantine_reason ?? '', /budget/);
    assert.match(await metrics(edge), /^edgeban_pattern_quarantined\{pattern="evil"\} 1$/m);
    assert.equal(edge.out().split('pattern quarantined').length - 1, 1, 'quarantined once, never re-run');
    // the operator lifts it
    const lift = await call(edge, 'DELETE', `/api/patterns/${e?.id}/quarantine`);
    assert.equal(lift.status, 200);
    assert.equal((await evil())?.quarantined, false);
    assert.doesNotMatch(await metrics(edge), /edgeban_pattern_quarantined\{pattern="evil"\}/);
    assert.equal((await call(edge, 'DELETE', `/api/patterns/${e?.id}/quarantine`)).status, 404);
  });
});
