import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { api, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { metricTotal } from '../helpers/metrics.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

// A jail's logpath, as in fail2ban: the jail's patterns read those files and nothing else, and
// no other pattern reads them. A Dovecot failure written into sshd's log counts nowhere, an sshd
// failure sent over syslog is not sshd's jail's to count; patterns no file-reading jail claims
// keep reading syslog.

const sshd = (ip: string) => `Dec  2 10:00:00 host sshd[1]: Failed password for root from ${ip} port 22 ssh2`;
const dovecot = (ip: string) =>
  `Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
const nginx = (ip: string) =>
  `Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 user "alice": password mismatch, client: ${ip}, server: example.com, request: "GET /admin/ HTTP/1.1", host: "example.com"`;
const syslog = (line: string) => `<38>${line}`;
const times = (n: number, line: string) => Array.from({ length: n }, () => line);

function config(dir: string, mailReadsItsLog: boolean): void {
  writeFileSync(
    join(dir, 'config.yaml'),
    // a files: glob that names sshd's log too: the jail's logpath claims it
    `files: ['${join(dir, 'a*.log')}']
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 3
    logpath: [${join(dir, 'auth.log')}]
  mail:
    patterns: [dovecot-*]
    max_attempts: 3
${mailReadsItsLog ? `    logpath: [${join(dir, 'mail.log')}]\n` : ''}  web:
    patterns: [nginx-*]
    max_attempts: 3
`,
  );
}

test("jails' logpath: each jail's patterns read its own files only, syslog keeps the rest; a reload moves them", async () => {
  const dir = tempDir('edgeban-logpath-');
  const auth = join(dir, 'auth.log');
  const mail = join(dir, 'mail.log');
  writeFileSync(auth, '');
  writeFileSync(mail, '');
  config(dir, true);
  const edge = await startEdge(dir);
  try {
    await edge.waitFor('edgeban started', 20_000);
    await until(
      'both files followed',
      async () => (await metricTotal(edge.metrics, 'edgeban_files_followed')) === 2,
    );
    // first what must count nowhere, then what must ban: once the bans are in, the lines before
    // them in the same file or stream were read too
    appendFileSync(auth, `${times(5, dovecot('198.51.100.1')).join('\n')}\n`);
    await sendLines(edge.syslog, [
      ...times(5, syslog(sshd('198.51.100.2'))),
      ...times(5, syslog(dovecot('198.51.100.3'))),
    ]);
    appendFileSync(auth, `${times(3, sshd('198.51.100.11')).join('\n')}\n`);
    appendFileSync(mail, `${times(3, dovecot('198.51.100.12')).join('\n')}\n`);
    await sendLines(edge.syslog, times(3, syslog(nginx('198.51.100.13'))));
    for (const ip of ['198.51.100.11', '198.51.100.12', '198.51.100.13'])
      await until(`${ip} banned`, async () => (await spopBanned(edge.spoa, ip)) === 1);
    const jailOf = async (ip: string) =>
      (await api<{ jails: { jail: string; ban: unknown }[] }>(edge, `/api/bans/${ip}`)).jails
        .filter((j) => j.ban !== null)
        .map((j) => j.jail)
        .join();
    assert.equal(await jailOf('198.51.100.11'), 'sshd');
    assert.equal(await jailOf('198.51.100.12'), 'mail');
    assert.equal(await jailOf('198.51.100.13'), 'web');
    // exactly the nine lines that count were matched: none of the fifteen others
    assert.equal(await metricTotal(edge.metrics, 'fail2ban_pattern_matches_total'), 9);
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      assert.equal(await spopBanned(edge.spoa, ip), 0, ip);
    const listed = (await api<{ jails: { name: string; logpath: string[] }[] }>(edge, '/api/jails')).jails;
    assert.deepEqual(listed.find((j) => j.name === 'sshd')?.logpath, [auth]);

    // the mail jail stops reading its file: its patterns read syslog again, the file is let go
    config(dir, false);
    edge.proc.kill('SIGHUP');
    await edge.waitFor('"msg":"configuration reloaded"', 10_000);
    await until(
      'mail.log let go',
      async () => (await metricTotal(edge.metrics, 'edgeban_files_followed')) === 1,
    );
    await sendLines(edge.syslog, times(3, syslog(dovecot('198.51.100.14'))));
    await until(
      'dovecot over syslog bans again',
      async () => (await spopBanned(edge.spoa, '198.51.100.14')) === 1,
    );
    appendFileSync(mail, `${times(3, dovecot('198.51.100.15')).join('\n')}\n`);
    appendFileSync(auth, `${times(3, sshd('198.51.100.16')).join('\n')}\n`);
    await until('auth.log still read', async () => (await spopBanned(edge.spoa, '198.51.100.16')) === 1);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.15'), 0, 'mail.log is not read any more');
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});

test("logpath is the config file's: the jails API refuses it (400), and the database never holds one", async () => {
  const dir = tempDir('edgeban-logpath-api-');
  writeFileSync(join(dir, 'config.yaml'), 'jails: {}\n');
  const edge = await startEdge(dir);
  try {
    await edge.waitFor('edgeban started', 20_000);
    const res = await fetch(`http://127.0.0.1:${edge.http}/api/jails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shadowfile', patterns: ['sshd-*'], logpath: ['/etc/shadow'] }),
    });
    assert.equal(res.status, 400, await res.text());
    assert.equal(await metricTotal(edge.metrics, 'edgeban_files_followed'), 0);
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});
