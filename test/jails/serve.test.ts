import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { api, EDGEBAN_BIN, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { sendWithLogger } from '../ingest/harness.js';

interface JailView {
  jail: string;
  failures: number;
  threshold: number;
  ban: { expires_at: string; services: string[]; shadow: boolean } | null;
  lines: string[];
}
interface Status {
  banned: boolean;
  failures: number;
  jails: JailView[];
}
interface TempBans {
  count: number;
  temp_bans?: { ip_address: string; jail: string; services: string[]; expires_at: string }[];
}

const run = promisify(execFile);

const failure = (ip: string, n: number) =>
  `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u${n}>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('jails through a running edgeban serve', () => {
  test('lines from logger are kept per jail for the explain view; scoped bans survive a restart to the ms', async () => {
    const dir = tempDir('edgeban-jails-serve');
    let edge = await startEdge(dir);
    try {
      await edge.waitFor('"msg":"edgeban started"', 20_000);
      await edge.waitFor('persisted bans restored', 20_000);
      // three failures (under the default jail threshold of 5) over UDP via logger
      for (let i = 0; i < 3; i++)
        await sendWithLogger(edge.syslog, 'udp', 'rfc3164', 'dovecot', failure('198.51.100.40', i));
      await until(
        async () => (await api<Status>(edge, '/api/bans/198.51.100.40')).failures === 3,
        'three failures',
      );
      const st = await api<Status>(edge, '/api/bans/198.51.100.40');
      const def = st.jails.find((j) => j.jail === 'default');
      assert.ok(def);
      assert.equal(def.threshold, 5);
      assert.equal(def.lines.length, 3);
      assert.match(def.lines[2], /user=<u2>.*rip=198\.51\.100\.40/, 'the line that counted, as received');

      // the CLI shows the same per-jail view
      const cli = await run(process.execPath, [
        EDGEBAN_BIN,
        'status',
        '198.51.100.40',
        '--url',
        `http://127.0.0.1:${edge.http}`,
      ]).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
      assert.match(cli.stdout, /jail default: 3\/5 failures in 600s/);
      assert.match(cli.stdout, /\| .*user=<u0>/);

      // a manual ban scoped to mail services
      const mail = await api<{ jail: string; services: string[]; expires_at: string }>(edge, '/api/ban', {
        ip_address: '198.51.100.41',
        duration: '2h',
        services: ['imap', 'smtp'],
      });
      assert.deepEqual(mail.services, ['imap', 'smtp']);
      assert.equal(mail.jail, 'default');
      const bad = await fetch(`http://127.0.0.1:${edge.http}/api/ban`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ip_address: '198.51.100.42', jail: 'nosuch' }),
      });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: string }).error, 'E_UNKNOWN_JAIL');
      const list = await api<TempBans>(edge, '/api/temp-bans');
      const item = list.temp_bans?.find((b) => b.ip_address === '198.51.100.41');
      assert.deepEqual(item?.services, ['imap', 'smtp']);

      edge.proc.kill('SIGTERM');
      assert.equal(await edge.exited, 0);
      edge = await startEdge(dir);
      await edge.waitFor('"msg":"edgeban started"', 20_000);
      await edge.waitFor('persisted bans restored', 20_000);
      const after = await api<TempBans>(edge, '/api/temp-bans');
      const back = after.temp_bans?.find((b) => b.ip_address === '198.51.100.41');
      assert.ok(back, 'the scoped ban came back');
      assert.deepEqual(back.services, ['imap', 'smtp']);
      assert.equal(back.expires_at, mail.expires_at, 'same expiry after the restart');
      const s2 = await api<Status>(edge, '/api/bans/198.51.100.41');
      assert.equal(s2.banned, true);
      assert.deepEqual(s2.jails.find((j) => j.jail === 'default')?.ban?.services, ['imap', 'smtp']);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });
});
