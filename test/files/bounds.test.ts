import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, fromObject } from '../../src/main/config/load.js';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { until as waitUntil } from '../helpers/wait.js';

const until = (what: string, f: () => boolean | Promise<boolean>, ms = 30_000) => waitUntil(what, f, ms);

const line = (ip: string) =>
  `Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;
const addr = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

async function counter(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n'))
    if (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

describe('file sources: bounds and bad input', () => {
  test('config: each bad entry is named with what was expected', () => {
    const bad = (files: unknown): string => {
      try {
        fromObject({ files }, { path: 'c.yaml' });
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      assert.fail('accepted');
    };
    assert.match(bad([{ path: '/x', format: 'plain' }]), /files\[0\].*tag: required with format plain/s);
    assert.match(bad(['relative.log']), /files\[0\].*absolute/s);
    assert.match(bad([{ path: '/x', from: 'middle' }]), /from: one of end, start/);
    assert.match(bad([{ path: '/x', speed: 1 }]), /only the fields path, format, tag, from/);
    assert.match(bad('/var/log/x'), /a list of file sources/);
    const ok = fromObject(
      { files: ['/var/log/a.log', { path: '/l/*.log', format: 'plain', tag: 'x' }] },
      { path: null },
    );
    assert.deepEqual(ok.config.files, [
      { path: '/var/log/a.log', format: 'syslog', tag: '', from: 'end' },
      { path: '/l/*.log', format: 'plain', tag: 'x', from: 'end' },
    ]);
  });

  test('a file far ahead of the matchers is read without shedding; long lines are cut and counted; a folder as path is an error, said', async () => {
    const dir = tempDir('edgeban-files-bounds-');
    const log = join(dir, 'big.log');
    const total = 40_000;
    let text = '';
    for (let n = 0; n < total; n++) text += `${line(addr(n))}\n`;
    // one line past syslog.max_line_length: its head (with the failure) counts once
    text += `${line('198.51.100.9')} ${'x'.repeat(20_000)}\n`;
    writeFileSync(log, text);
    const folder = join(dir, 'not-a-file');
    mkdirSync(folder);
    writeFileSync(
      join(dir, 'config.yaml'),
      `files:\n  - { path: ${log}, from: start }\n  - { path: ${folder} }\n`,
    );
    // one worker, tiny batches and queue: the pipeline is congested all along
    const edge = await startEdge(dir, {
      FAIL2BAN_BAN_MAX_ATTEMPTS: '1000000',
      FAIL2BAN_WORKERS_COUNT: '1',
      FAIL2BAN_SYSLOG_BATCH_SIZE: '16',
      FAIL2BAN_SYSLOG_MAX_QUEUED_BATCHES: '2',
    });
    try {
      await edge.waitFor('edgeban started', 20_000);
      await until(
        'every line',
        async () => (await counter(edge, 'fail2ban_pattern_matches_total')) === total + 1,
      );
      appendFileSync(log, `${line(addr(total + 1))}\n`);
      await until(
        'the line after the long one',
        async () => (await counter(edge, 'fail2ban_pattern_matches_total')) === total + 2,
      );
      assert.equal(await counter(edge, 'edgeban_syslog_shed_lines_total'), 0);
      assert.equal(await counter(edge, 'edgeban_file_truncated_lines_total'), 1);
      assert.equal(await counter(edge, 'edgeban_file_lines_total'), total + 2);
      assert.ok((await counter(edge, 'edgeban_file_errors_total')) >= 1);
      await edge.waitFor(
        /"code":"E_FILE_SOURCE".*a log file cannot be read|a log file cannot be read.*E_FILE_SOURCE/,
      );
      // said once for the folder, however often it is polled
      await new Promise((r) => setTimeout(r, 2200));
      assert.equal(edge.out().split('a log file cannot be read').length - 1, 1, edge.out());
    } finally {
      edge.proc.kill('SIGTERM');
      await edge.exited;
    }
  });
});
