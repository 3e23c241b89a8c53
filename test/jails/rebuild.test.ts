import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { sendWithLogger } from '../ingest/harness.js';

// Recidive counts the bans of other jails; a restart must not give a repeat offender a fresh
// allowance. Two short sshd bans before a restart and one after make the third: recidive bans.
const CONFIG = `
ban:
  ignore_ips: []
syslog:
  patterns:
    - name: sshd-failed
      regex: '^sshd: Failed password for (?:invalid user )?\\S+ from (?<ip>[0-9a-fA-F.:]+) port \\d+'
      ip_group: ip
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 2
    time_window: "10m"
    initial_ban_time: "1s"
    max_ban_time: "1s"
  recidive:
    source: bans
    max_attempts: 3
    time_window: "1h"
    initial_ban_time: "1h"
`;

interface JailView {
  jail: string;
  ban: { expires_at: string } | null;
}
interface Status {
  banned: boolean;
  jails: JailView[];
}

const line = (ip: string, n: number) => `Failed password for user${n} from ${ip} port ${40000 + n} ssh2`;

async function until(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let n = 0;
/** Two failures: one short sshd ban, waited out. */
async function banOnce(edge: EdgeProcess, ip: string): Promise<void> {
  for (let i = 0; i < 2; i++) await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'sshd', line(ip, n++));
  await until(async () => (await api<Status>(edge, `/api/bans/${ip}`)).banned, `sshd ban of ${ip}`);
}

async function waitOut(edge: EdgeProcess, ip: string): Promise<void> {
  await until(async () => !(await api<Status>(edge, `/api/bans/${ip}`)).banned, `end of the ban of ${ip}`);
}

const recidiveBan = async (edge: EdgeProcess, ip: string) =>
  (await api<Status>(edge, `/api/bans/${ip}`)).jails.find((j) => j.jail === 'recidive')?.ban ?? null;

test('recidive counts the bans made before a restart', async () => {
  const dir = tempDir('edgeban-recidive-restart-');
  writeFileSync(join(dir, 'config.yaml'), CONFIG);
  const ip = '198.51.100.90';
  const other = '198.51.100.91';
  let edge = await startEdge(dir);
  try {
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    await banOnce(edge, ip);
    await waitOut(edge, ip);
    await banOnce(edge, ip);
    await waitOut(edge, ip);
    // one ban of another address: below recidive's threshold before and after
    await banOnce(edge, other);
    assert.equal(await recidiveBan(edge, ip), null, 'two bans: not yet a recidivist');
    edge.proc.kill('SIGTERM');
    assert.equal(await edge.exited, 0);

    edge = await startEdge(dir);
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    assert.match(edge.out(), /recidive and subnet counts rebuilt from the bans of their window/);
    await waitOut(edge, other);
    await banOnce(edge, ip);
    await until(async () => (await recidiveBan(edge, ip)) !== null, 'the recidive ban after the restart');
    const ban = await recidiveBan(edge, ip);
    assert.ok(ban);
    const left = Date.parse(ban.expires_at) - Date.now();
    assert.ok(left > 50 * 60_000, `recidive bans for its hour (left: ${left} ms)`);
    // the other address had one ban before and one after: two, below the threshold of three
    await banOnce(edge, other);
    await waitOut(edge, other);
    assert.equal(await recidiveBan(edge, other), null);
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});
