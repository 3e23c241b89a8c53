import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { api, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

// `edgeban serve --fail2ban DIR` runs from a real fail2ban tree (Debian's /etc/fail2ban, copied,
// with a jail.local as an operator writes it): the sshd jail's filter, its maxretry and its
// logpath, followed as a file source.
const TREE = '/etc/fail2ban';
const skip = (() => {
  try {
    execFileSync('test', ['-d', join(TREE, 'filter.d')]);
    return false;
  } catch {
    return 'no fail2ban tree in /etc/fail2ban (Debian package fail2ban)';
  }
})();

/** A copy of Debian's fail2ban tree in a temporary directory, to write a jail.local into. */
function copyTree(prefix: string): { dir: string; tree: string } {
  const dir = tempDir(prefix);
  const tree = join(dir, 'fail2ban');
  execFileSync('cp', ['-r', TREE, tree]);
  return { dir, tree };
}

interface Status {
  banned: boolean;
  jails: { jail: string; failures: number; threshold: number }[];
}

const line = (ip: string, n: number) =>
  `Dec  2 10:00:0${n} gw sshd[4242]: Failed password for invalid user admin${n} from ${ip} port 5000${n} ssh2\n`;

test('serve --fail2ban: the sshd jail of jail.local bans from its logpath at its maxretry', {
  skip,
}, async () => {
  const { dir, tree } = copyTree('edgeban-f2b-serve-');
  const log = join(dir, 'auth.log');
  writeFileSync(log, '');
  writeFileSync(
    join(tree, 'jail.local'),
    `[DEFAULT]\nignoreip = 127.0.0.1/8 ::1\n\n[sshd]\nenabled = true\nbackend = auto\nlogpath = ${log}\nmaxretry = 2\nfindtime = 10m\nbantime = 1h\n`,
  );
  const edge = await startEdge(dir, {}, ['--fail2ban', tree]);
  try {
    await edge.waitFor('"msg":"edgeban started"', 30_000);
    assert.match(edge.out(), /sshd/, 'the import report names the jail');
    const ip = '203.0.113.77';
    appendFileSync(log, line(ip, 1));
    const end = Date.now() + 15_000;
    let st = await api<Status>(edge, `/api/bans/${ip}`);
    while (st.jails.find((j) => j.jail === 'sshd')?.failures !== 1 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      st = await api<Status>(edge, `/api/bans/${ip}`);
    }
    const jail = st.jails.find((j) => j.jail === 'sshd');
    assert.equal(jail?.failures, 1, JSON.stringify(st));
    assert.equal(jail?.threshold, 2, "jail.local's maxretry");
    assert.equal(st.banned, false);
    appendFileSync(log, line(ip, 2));
    while (!(await api<Status>(edge, `/api/bans/${ip}`)).banned && Date.now() < end)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal((await api<Status>(edge, `/api/bans/${ip}`)).banned, true, edge.out().slice(-2000));
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});

// roundcube-auth's ignoreregex ("Could not connect to .* Connection refused"), live: of two
// failure lines in its logpath the one the ignoreregex also matches does not count, as
// fail2ban-regex (the real peer, same filter, same lines) says: 1 matched, 1 ignored
const rcLine = (ip: string, rest: string) =>
  `Jul 11 03:06:37 myhostname roundcube: IMAP Error: Login failed for admin from ${ip}. ${rest} in /usr/share/roundcube/program/include/rcube_imap.php on line 205 (POST /wmail/?_task=login&_action=login)\n`;

test("serve --fail2ban: a line its filter's ignoreregex matches does not count, as fail2ban-regex says", {
  skip,
}, async () => {
  const { dir, tree } = copyTree('edgeban-f2b-ignore-');
  const log = join(dir, 'errors.log');
  const counted = rcLine('192.0.2.71', 'AUTHENTICATE PLAIN: A0002 NO Login failed.');
  const ignored = rcLine('192.0.2.72', 'Could not connect to imap.example: Connection refused');
  writeFileSync(join(dir, 'sample.log'), counted + ignored);
  const peer = execFileSync(
    'fail2ban-regex',
    [join(dir, 'sample.log'), join(TREE, 'filter.d', 'roundcube-auth.conf')],
    {
      encoding: 'utf8',
    },
  );
  assert.match(peer, /Lines: 2 lines, 1 ignored, 1 matched, 0 missed/);
  writeFileSync(log, '');
  writeFileSync(
    join(tree, 'jail.local'),
    `[roundcube-auth]\nenabled = true\nbackend = auto\nlogpath = ${log}\nmaxretry = 5\n`,
  );
  const edge = await startEdge(dir, {}, ['--fail2ban', tree]);
  try {
    await edge.waitFor('"msg":"edgeban started"', 30_000);
    appendFileSync(log, ignored + counted);
    const failures = async (ip: string) =>
      (await api<Status>(edge, `/api/bans/${ip}`)).jails.find((j) => j.jail === 'roundcube-auth')?.failures ??
      0;
    const end = Date.now() + 15_000;
    while ((await failures('192.0.2.71')) !== 1 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(await failures('192.0.2.71'), 1, edge.out().slice(-2000));
    // read before the counted line (same file, in order): had it counted, it would show by now
    assert.equal(await failures('192.0.2.72'), 0, 'the ignored line counted');
    const pats = await api<{ patterns: { name: string; ignoreregex?: string[] }[] }>(edge, '/api/patterns');
    const rc = pats.patterns.find((p) => p.name.startsWith('f2b-roundcube-auth-'));
    assert.ok(rc?.ignoreregex && rc.ignoreregex.length === 1, JSON.stringify(rc));
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});

// sshd's sessions (`<F-MLFID>`), live: a line that names no address counts for the address its
// session's earlier line gave; the same line in a session nobody opened counts for nobody; a key
// that failed and then logged in is not a failure (`<F-NOFAIL>`, `<F-MLFGAINED>`). fail2ban-regex
// (the real peer, same filter, same lines) matches 2 lines, one of them without an address.
const sessionLog = [
  'Dec  2 10:00:01 gw sshd[5151]: Connection from 198.51.100.40 port 40000 on 10.0.0.1 port 22 rdomain ""',
  'Dec  2 10:00:02 gw sshd[5151]: Failed publickey for git from 198.51.100.40 port 40000 ssh2: RSA SHA256:abcdef',
  'Dec  2 10:00:03 gw sshd[5151]: Disconnecting: Too many authentication failures for root [preauth]',
  'Dec  2 10:00:04 gw sshd[6262]: Disconnecting: Too many authentication failures for root [preauth]',
  'Dec  2 10:00:05 gw sshd[7373]: Failed publickey for git from 198.51.100.41 port 40001 ssh2: RSA SHA256:abcdef',
  'Dec  2 10:00:06 gw sshd[7373]: Accepted publickey for git from 198.51.100.41 port 40001 ssh2: RSA SHA256:abcdef',
];

test("serve --fail2ban: sshd's sessions decide a line with the session's earlier lines, as fail2ban-regex does", {
  skip,
}, async () => {
  const { dir, tree } = copyTree('edgeban-f2b-session-');
  writeFileSync(join(dir, 'sample.log'), `${sessionLog.join('\n')}\n`);
  const peer = execFileSync(
    'fail2ban-regex',
    ['--no-check-all', '--print-all-matched', join(dir, 'sample.log'), join(TREE, 'filter.d', 'sshd.conf')],
    { encoding: 'utf8' },
  );
  assert.match(peer, /Lines: 6 lines, 0 ignored, 2 matched, 4 missed/);
  assert.match(peer, /\|\s+Dec {2}2 10:00:03 gw sshd\[5151\]: Disconnecting/);
  const log = join(dir, 'auth.log');
  writeFileSync(log, '');
  writeFileSync(
    join(tree, 'jail.local'),
    `[sshd]\nenabled = true\nbackend = auto\nlogpath = ${log}\nmaxretry = 1\nfindtime = 10m\nbantime = 1h\n`,
  );
  const edge = await startEdge(dir, {}, ['--fail2ban', tree]);
  try {
    await edge.waitFor('"msg":"edgeban started"', 30_000);
    // a plain failure after them: once it is banned, every line before it has been decided
    appendFileSync(log, `${sessionLog.join('\n')}\n${line('198.51.100.42', 7)}`);
    const end = Date.now() + 15_000;
    while (!(await api<Status>(edge, '/api/bans/198.51.100.42')).banned && Date.now() < end)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal((await api<Status>(edge, '/api/bans/198.51.100.42')).banned, true, edge.out().slice(-2000));
    const opened = await api<Status>(edge, '/api/bans/198.51.100.40');
    assert.equal(opened.banned, true, `the session's address: ${JSON.stringify(opened)}`);
    const forgiven = await api<Status>(edge, '/api/bans/198.51.100.41');
    assert.equal(forgiven.banned, false, JSON.stringify(forgiven));
    assert.equal(forgiven.jails.find((j) => j.jail === 'sshd')?.failures ?? 0, 0, JSON.stringify(forgiven));
    // exactly the two failures with an address ban: nobody was banned for sshd[6262]'s line
    const stats = await api<{ stats: { currently_banned: number } }>(edge, '/api/radix-stats');
    assert.equal(stats.stats.currently_banned, 2, JSON.stringify(stats));
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});

test('serve --fail2ban with --config is refused, naming both', async () => {
  const dir = tempDir('edgeban-f2b-serve-usage-');
  const r = (() => {
    try {
      execFileSync(
        process.execPath,
        [
          join(import.meta.dirname, '..', '..', '..', 'bin', 'edgeban.js'),
          'serve',
          '--fail2ban',
          dir,
          '--config',
          join(dir, 'x.yaml'),
        ],
        {
          encoding: 'utf8',
          stdio: 'pipe',
        },
      );
      return { status: 0, err: '' };
    } catch (e) {
      const x = e as { status: number; stderr: string };
      return { status: x.status, err: x.stderr };
    }
  })();
  assert.equal(r.status, 2);
  assert.match(r.err, /--fail2ban and --config/);
});
