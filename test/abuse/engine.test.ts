import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { api, dovecotLine, type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { waitForPort } from '../helpers/haproxy.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: string[] = [];
const edges: EdgeProcess[] = [];
after(() => {
  for (const e of edges) if (e.proc.exitCode === null) e.proc.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function edgeIn(cwd: string, env: Record<string, string> = {}): Promise<EdgeProcess> {
  const e = await startEdge(cwd, { FAIL2BAN_SYSLOG_PROTOCOL: 'tcp', FAIL2BAN_WORKERS_COUNT: '1', ...env });
  edges.push(e);
  await e.waitFor(/Syslog reader started/);
  await waitForPort(e.spoa, 5000);
  await waitForPort(e.http, 5000);
  return e;
}

/** Lines over one TCP syslog connection (LF framing), with backpressure: none is lost. */
async function sendTcp(port: number, lines: string[]): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  for (let i = 0; i < lines.length; i += 500) {
    const chunk = `${lines.slice(i, i + 500).join('\n')}\n`;
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
  }
  await new Promise<void>((r) => sock.end(r));
}

async function post(edge: EdgeProcess, path: string, body: unknown, method = 'POST') {
  const res = await fetch(`http://127.0.0.1:${edge.http}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function metric(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('engine under abuse (edgeban serve)', () => {
  test('a flood of distinct failing addresses past ban.max_tracked: bans hold, answers stay prompt, a real attacker is still caught', async () => {
    const cwd = tempDir('edgeban-abuse-engine-');
    dirs.push(cwd);
    const edge = await edgeIn(cwd, { FAIL2BAN_BAN_MAX_TRACKED: '1000' });
    const victim = '203.0.113.7';
    const attacker = '198.51.100.77';
    await api(edge, '/api/ban', { ip_address: victim, duration: '1h' });
    assert.equal(await spopBanned(edge.spoa, victim), 1);

    // 30 000 one-off addresses (30× the table), the attacker's five failures spread among them
    // closely enough (every 150 lines) that least-recently-seen eviction never reaches it
    const lines: string[] = [];
    let attacks = 0;
    for (let i = 0; i < 30_000; i++) {
      lines.push(dovecotLine(`10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`));
      if (i % 150 === 75 && attacks < 5) {
        lines.push(dovecotLine(attacker));
        attacks++;
      }
    }
    let flooding = true;
    const answers: number[] = [];
    let slowest = 0;
    const asking = (async () => {
      while (flooding || answers.length < 5) {
        const t0 = performance.now();
        answers.push(await spopBanned(edge.spoa, victim));
        slowest = Math.max(slowest, performance.now() - t0);
      }
    })();
    await sendTcp(edge.syslog, lines);
    // every line read: the tracking gauge sits at the cap and evictions were counted
    const deadline = Date.now() + 45_000; // generous: a loaded CI machine, not a figure
    while ((await metric(edge, 'edgeban_engine_tracking_evictions_total')) < 29_000 - 1000) {
      assert.ok(Date.now() < deadline, 'flood not ingested within 45 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    flooding = false;
    await asking;
    assert.ok(answers.length >= 5);
    assert.ok(
      answers.every((a) => a === 1),
      `banned client let through: ${answers.length} answers, ${answers.filter((a) => a !== 1).length} not banned`,
    );
    assert.ok(slowest < 2000, `an SPOA answer took ${Math.round(slowest)} ms`);
    assert.equal(await spopBanned(edge.spoa, attacker), 1, 'the attacker mixed into the flood is banned');
    assert.equal(await metric(edge, 'edgeban_engine_tracked_addresses'), 1000);
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
  });

  test('/0 is refused without force; a whitelist entry hides bans, survives a restart, and its removal restores them', async () => {
    const cwd = tempDir('edgeban-abuse-engine-');
    dirs.push(cwd);
    let edge = await edgeIn(cwd);
    for (const [path, ip] of [
      ['/api/ban', '0.0.0.0/0'],
      ['/api/ban', '::/0'],
      ['/api/blacklist', '0.0.0.0/0'],
      ['/api/whitelist', '0.0.0.0/0'],
      ['/api/whitelist', '::/0'],
    ]) {
      const r = await post(edge, path, { ip_address: ip });
      assert.equal(r.status, 400, `${path} ${ip}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error, 'E_PREFIX_TOO_SHORT');
      assert.equal(r.json.min_prefix, ip.includes(':') ? 32 : 8);
      assert.match(String(r.json.message), /min_prefix/);
    }
    assert.equal(await spopBanned(edge.spoa, '8.8.8.8'), 0);

    await api(edge, '/api/ban', { ip_address: '192.0.2.50', duration: '1h' });
    assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 1);
    const w = await post(edge, '/api/whitelist', { ip_address: '0.0.0.0/0', force: true });
    assert.equal(w.status, 200, JSON.stringify(w.json));
    assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 0);
    const hidden = await api<{ count: number }>(edge, '/api/temp-bans');
    assert.equal(hidden.count, 0, 'a hidden ban is not listed as in force');

    // the store kept the ban: it is still there, still hidden, after a restart
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
    edge = await edgeIn(cwd);
    assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 0);
    const del = await post(edge, '/api/whitelist', { ip_address: '0.0.0.0/0' }, 'DELETE');
    assert.equal(del.status, 200, JSON.stringify(del.json));
    assert.equal(del.json.removed, true);
    assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 1, 'the ban is back');
    const back = await api<{ count: number }>(edge, '/api/temp-bans');
    assert.equal(back.count, 1);
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);
  });
});
