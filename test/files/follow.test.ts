import assert from 'node:assert/strict';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { api, type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

/** Dovecot's own log line (its log_path file, no syslog host), one failure from `ip`. */
const own = (ip: string) =>
  `Dec  2 10:00:00 imap-login: Info: Disconnected (auth failed, 3 attempts in 9 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
/** The same failure as a syslog file line (rsyslog's /var/log/mail.log). */
const syslogLine = (ip: string) =>
  `Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
/** A distinct address per line number (10.x.y.z), so every match can be counted. */
const addr = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

function config(dir: string, files: string): void {
  writeFileSync(join(dir, 'config.yaml'), `files:\n${files}`);
}

async function metrics(edge: EdgeProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
}

/** Sum of a counter over the series whose labels contain `labels` (all series when empty). */
async function counter(edge: EdgeProcess, name: string, labels = ''): Promise<number> {
  let sum = 0;
  for (const line of (await metrics(edge)).split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels !== '' && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const matches = (edge: EdgeProcess) => counter(edge, 'fail2ban_pattern_matches_total');

/** Counting without banning: every line is its own address anyway. */
const NO_BANS = { FAIL2BAN_BAN_MAX_ATTEMPTS: '1000000' };

/** Appends `count` failure lines, a few per millisecond, calling `at(n)` before line n (rotations). */
async function writeLines(
  file: string,
  first: number,
  count: number,
  line: (ip: string) => string,
  at: (n: number) => void = () => {},
): Promise<void> {
  for (let n = first; n < first + count; n++) {
    at(n);
    appendFileSync(file, `${line(addr(n))}\n`);
    if (n % 20 === 0) await new Promise((r) => setTimeout(r, 2));
  }
}

describe('file sources (edgeban serve)', () => {
  test('lines appended to a followed file are matched and ban; plain files take their tag; from: end skips the past', async () => {
    const dir = tempDir('edgeban-files-');
    const mail = join(dir, 'mail.log');
    const plain = join(dir, 'dovecot.log');
    writeFileSync(mail, `${syslogLine('198.51.100.1')}\n`.repeat(5));
    writeFileSync(plain, '');
    config(
      dir,
      `  - path: ${mail}\n  - { path: ${plain}, format: plain, tag: dovecot }\n  - { path: ${join(dir, 'own.log')}, from: start }\n`,
    );
    writeFileSync(join(dir, 'own.log'), `${own('198.51.100.3')}\n`.repeat(5));
    const edge = await startEdge(dir);
    try {
      await edge.waitFor('edgeban started', 20_000);
      // own.log (from: start) is read from its first line: its five failures ban at once
      await until('own.log ban', async () => (await spopBanned(edge.spoa, '198.51.100.3')) === 1);
      for (let i = 0; i < 5; i++) appendFileSync(mail, `${syslogLine('198.51.100.2')}\n`);
      // half a line, then the rest: one line, not two
      for (let i = 0; i < 5; i++) {
        const l = `imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=198.51.100.4, lip=192.0.2.1\n`;
        appendFileSync(plain, l.slice(0, 20));
        await new Promise((r) => setTimeout(r, 20));
        appendFileSync(plain, l.slice(20));
      }
      await until('appended lines ban', async () => (await spopBanned(edge.spoa, '198.51.100.2')) === 1);
      await until('plain lines ban', async () => (await spopBanned(edge.spoa, '198.51.100.4')) === 1);
      const ban = await api<{ banned?: boolean }>(edge, '/api/bans/198.51.100.2');
      assert.notEqual(JSON.stringify(ban).indexOf('198.51.100.2'), -1, JSON.stringify(ban));
      // the five lines that were there before the start (from: end) were not read
      assert.equal(await spopBanned(edge.spoa, '198.51.100.1'), 0);
      assert.equal(await counter(edge, 'edgeban_file_lines_total', `source="${mail}"`), 5);
      assert.equal(await counter(edge, 'edgeban_file_lines_total', `source="${plain}"`), 5);
      assert.equal(await counter(edge, 'edgeban_files_followed'), 3);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });

  test('rotation by rename and by copytruncate while a writer appends: every line is read exactly once', async () => {
    const dir = tempDir('edgeban-files-rot-');
    const log = join(dir, 'auth.log');
    writeFileSync(log, '');
    config(dir, `  - path: ${log}\n`);
    const edge = await startEdge(dir, NO_BANS);
    try {
      await edge.waitFor('edgeban started', 20_000);
      const total = 3000;
      await writeLines(log, 0, total, syslogLine, (n) => {
        if (n === 1000) {
          // logrotate's default: rename, and the writer reopens a new file at the old path
          renameSync(log, `${log}.1`);
          writeFileSync(log, '');
        }
        if (n === 1500) {
          // a second writer that had the old file open still appends to it after the rotation
          const late = openSync(`${log}.1`, 'a');
          for (let k = 0; k < 100; k++) writeSync(late, `${syslogLine(addr(total + 5000 + k))}\n`);
          closeSync(late);
        }
      });
      await until('all renamed-rotation lines', async () => (await matches(edge)) === total + 100);
      await writeLines(log, total, 1000, syslogLine);
      await until('lines before the copy', async () => (await matches(edge)) === total + 1100);
      // copytruncate: lines written between the last read and the truncation exist only in the
      // copy, lost to any reader, so the copy is taken once the reader caught up; the writer
      // goes on at once after the truncation (its O_APPEND writes land at the new start)
      copyFileSync(log, `${log}.2`);
      truncateSync(log, 0);
      await writeLines(log, total + 1000, 1000, syslogLine);
      await until('lines after the truncation', async () => (await matches(edge)) === total + 2100);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await matches(edge), total + 2100, 'no line read twice');
      assert.equal(await counter(edge, 'edgeban_file_lines_total'), total + 2100);
      assert.equal(await counter(edge, 'edgeban_file_rotations_total'), 1);
      assert.equal(await counter(edge, 'edgeban_file_truncations_total'), 1);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });

  test('a restart mid-file resumes where it stopped: lines written while down are read, none twice', async () => {
    const dir = tempDir('edgeban-files-restart-');
    const log = join(dir, 'auth.log');
    writeFileSync(log, '');
    config(dir, `  - path: ${log}\n`);
    let edge = await startEdge(dir, NO_BANS);
    try {
      await edge.waitFor('edgeban started', 20_000);
      await writeLines(log, 0, 1000, syslogLine);
      // a line cut in two by the stop: its head is in the file, its tail comes later
      appendFileSync(log, syslogLine(addr(1000)).slice(0, 40));
      await until('first run', async () => (await matches(edge)) === 1000);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
    const positions = join(dir, 'edgeban-file-positions.json');
    assert.ok(existsSync(positions), 'positions saved beside the SQLite database');
    const saved = JSON.parse(readFileSync(positions, 'utf8')) as {
      positions: { path: string; offset: number }[];
    };
    const size = readFileSync(log).length;
    assert.equal(
      saved.positions.find((p) => p.path === log)?.offset,
      size - 40,
      'the partial line is not consumed',
    );
    // written while edgeban is down: the rest of the cut line, then more
    appendFileSync(log, `${syslogLine(addr(1000)).slice(40)}\n`);
    await writeLines(log, 1001, 499, syslogLine);
    edge = await startEdge(dir, NO_BANS);
    try {
      await edge.waitFor('edgeban started', 20_000);
      await until('second run', async () => (await matches(edge)) === 500);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(await matches(edge), 500, 'nothing of the first run read again');
      assert.equal(await counter(edge, 'edgeban_file_lines_total'), 500);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
    // rewritten in place while down (same inode, longer than the position, other first bytes):
    // not mistaken for the file that was read, so it is read from its start
    const fresh: string[] = [];
    for (let n = 0; n < 2000; n++) fresh.push(own(addr(20_000 + n)));
    writeFileSync(log, `${fresh.join('\n')}\n`);
    edge = await startEdge(dir, NO_BANS);
    try {
      await edge.waitFor('edgeban started', 20_000);
      await until('the rewritten file', async () => (await matches(edge)) === 2000);
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });

  test('a glob follows the files it names, and files that appear later, from their first line', async () => {
    const dir = tempDir('edgeban-files-glob-');
    writeFileSync(join(dir, 'a.log'), `${syslogLine(addr(1))}\n`);
    writeFileSync(join(dir, 'skip.txt'), '');
    mkdirSync(join(dir, 'rot'));
    const app = join(dir, 'rot', 'app.log');
    writeFileSync(app, '');
    config(dir, `  - { path: "${dir}/*.log", from: start }\n  - { path: "${dir}/rot/*" }\n`);
    const edge = await startEdge(dir, NO_BANS);
    try {
      await edge.waitFor('edgeban started', 20_000);
      await until('existing file', async () => (await matches(edge)) === 1);
      // a new file with lines already in it when it is found: all of them count
      writeFileSync(join(dir, 'b.log'), `${syslogLine(addr(2))}\n${syslogLine(addr(3))}\n`);
      writeFileSync(join(dir, 'skip.txt'), `${syslogLine(addr(4))}\n`);
      await until('new file', async () => (await matches(edge)) === 3);
      appendFileSync(join(dir, 'b.log'), `${syslogLine(addr(5))}\n`);
      await until('appended to the new file', async () => (await matches(edge)) === 4);
      assert.equal(await counter(edge, 'edgeban_files_followed'), 3);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(await matches(edge), 4, 'skip.txt is not matched by the glob');
      // rotated under a name the glob also matches: its lines are not read a second time
      await writeLines(app, 100, 200, syslogLine);
      await until('app.log', async () => (await matches(edge)) === 204);
      renameSync(app, `${app}.1`);
      writeFileSync(app, '');
      await writeLines(app, 300, 200, syslogLine);
      await until('app.log after its rotation', async () => (await matches(edge)) === 404);
      // the rotated file is let go after its grace time, then found by the glob: nothing re-read
      await until('app.log.1 followed', async () => (await counter(edge, 'edgeban_files_followed')) === 4);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(await matches(edge), 404, 'no line of the rotated file read twice');
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });
});
