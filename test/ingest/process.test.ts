import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { waitForPort } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { peerMissing } from '../helpers/peers.js';
import { hello26, ipv4, notify, RawPeer } from '../spoa/client.js';
import { sendWithLogger } from './harness.js';

const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'edgeban.js');
let proc: ChildProcess | null = null;
const cwd = mkdtempSync(join(tmpdir(), 'edgeban-ingest-e2e-'));
after(() => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  rmSync(cwd, { recursive: true, force: true });
});

/** The agent's answer for `ip` over SPOP: 1 = banned. */
async function banned(port: number, ip: string): Promise<number> {
  const p = await RawPeer.open(port);
  p.send(hello26());
  p.send(notify(1, 1, [['check-client-ip', [['src', ipv4(ip)]]]]));
  const f = await p.waitFrames(2);
  p.close();
  return f[1].payload[f[1].payload.length - 1];
}

test("full process: logger → edgeban serve → ban visible to HAProxy's SPOP lookup", {
  skip: peerMissing('logger'),
}, async () => {
  const spoa = await freePort();
  const syslog = await freePort();
  const metrics = await freePort();
  const env = {
    ...process.env,
    FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
    FAIL2BAN_SPOA_PORT: String(spoa),
    FAIL2BAN_PROMETHEUS_ADDRESS: '127.0.0.1',
    FAIL2BAN_PROMETHEUS_PORT: String(metrics),
    FAIL2BAN_NGINX_PORT: String(await freePort()),
    FAIL2BAN_ENVOY_PORT: String(await freePort()),
    FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${syslog}`,
    FAIL2BAN_SYSLOG_PROTOCOL: 'both',
    FAIL2BAN_WORKERS_COUNT: '1',
  };
  proc = spawn(process.execPath, [bin, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const waitOut = async (re: RegExp, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > end || proc?.exitCode !== null) throw new Error(`never logged ${re}:\n${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await waitOut(/Syslog reader started/);
  await waitForPort(spoa, 5000);
  const line = (ip: string) =>
    `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
  for (let i = 0; i < 4; i++)
    await sendWithLogger(syslog, 'tcp', 'rfc5424', 'dovecot', line('198.51.100.44'));
  for (let i = 0; i < 5; i++)
    await sendWithLogger(syslog, 'udp', 'rfc3164', 'dovecot', line('198.51.100.55'));
  await waitOut(/"msg":"IP banned"/);
  assert.match(out, /"ip":"198\.51\.100\.55"[^\n]*"pattern":"dovecot-auth-failed"/);
  assert.equal(await banned(spoa, '198.51.100.55'), 1);
  assert.equal(await banned(spoa, '198.51.100.44'), 0);
  const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  assert.match(text, /^fail2ban_pattern_matches_total\{pattern="dovecot-auth-failed",severity="4"\} 9$/m);
  assert.match(text, /^fail2ban_config_patterns_loaded 11$/m);
  assert.match(text, /^edgeban_syslog_lines_total\{transport="udp"\} 5$/m);
  assert.match(text, /^edgeban_syslog_lines_total\{transport="tcp"\} 4$/m);
  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => proc?.once('exit', (c) => r(c)));
  assert.equal(code, 0, out);
});
