import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { waitForPort } from '../helpers/haproxy.js';
import { peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';
import { sendWithLogger } from './harness.js';

let edge: EdgeProcess | null = null;
const cwd = tempDir('edgeban-ingest-e2e-');
after(() => {
  if (edge && edge.proc.exitCode === null) edge.proc.kill('SIGKILL');
  rmSync(cwd, { recursive: true, force: true });
});

test("full process: logger → edgeban serve → ban visible to HAProxy's SPOP lookup", {
  skip: peerMissing('logger'),
}, async () => {
  edge = await startEdge(cwd, { FAIL2BAN_SYSLOG_PROTOCOL: 'both', FAIL2BAN_WORKERS_COUNT: '1' });
  const { spoa, metrics, syslog } = edge;
  await edge.waitFor(/Syslog reader started/);
  await waitForPort(spoa, 5000);
  const scrape = async () => (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  // no log line yet: no matcher worker holds memory
  assert.match(await scrape(), /^edgeban_matcher_workers 0$/m);
  const line = (ip: string) =>
    `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
  for (let i = 0; i < 4; i++)
    await sendWithLogger(syslog, 'tcp', 'rfc5424', 'dovecot', line('198.51.100.44'));
  for (let i = 0; i < 5; i++)
    await sendWithLogger(syslog, 'udp', 'rfc3164', 'dovecot', line('198.51.100.55'));
  await edge.waitFor(/"msg":"IP banned"/);
  assert.match(edge.out(), /"ip":"198\.51\.100\.55"[^\n]*"pattern":"dovecot-auth-failed"/);
  assert.equal(await spopBanned(spoa, '198.51.100.55'), 1);
  assert.equal(await spopBanned(spoa, '198.51.100.44'), 0);
  const text = await scrape();
  assert.match(text, /^edgeban_matcher_workers 1$/m);
  assert.match(text, /^fail2ban_pattern_matches_total\{pattern="dovecot-auth-failed",severity="4"\} 9$/m);
  // the built-in set (no pattern configured)
  assert.match(text, new RegExp(`^fail2ban_config_patterns_loaded ${builtin.length}$`, 'm'));
  assert.match(text, /^edgeban_syslog_lines_total\{transport="udp"\} 5$/m);
  assert.match(text, /^edgeban_syslog_lines_total\{transport="tcp"\} 4$/m);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0, edge.out());
});
