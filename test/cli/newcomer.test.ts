import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { EDGEBAN_BIN, type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

interface Ran {
  code: number;
  out: string;
  err: string;
}

async function edgeban(args: string[], env: Record<string, string> = {}, bin = EDGEBAN_BIN): Promise<Ran> {
  try {
    const r = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

describe('edgeban CLI for a newcomer, against a running edgeban serve', () => {
  let edge: EdgeProcess;
  let url: string;
  const TOKEN = 'newcomer-token';
  const cli = (...args: string[]) => edgeban([...args, '--url', url], { EDGEBAN_TOKEN: TOKEN });

  before(async () => {
    edge = await startEdge(tempDir('edgeban-newcomer-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_API_TOKENS: TOKEN,
    });
    await edge.waitFor('edgeban started');
    url = `http://127.0.0.1:${edge.http}`;
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('a range under the floor is refused naming the floor; --force sends force and it applies', async () => {
    const refused = await cli('ban', '10.0.0.0/4');
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, /IPv4 floor \/8 \(ban\.min_prefix_v4\)/);
    assert.match(refused.err, /HTTP 400/);
    assert.equal(await spopBanned(edge.spoa, '10.1.2.3'), 0, 'nothing applied');

    const forced = await cli('ban', '10.0.0.0/4', '--force', '--for', '10m');
    assert.equal(forced.code, 0, forced.err);
    assert.equal(await spopBanned(edge.spoa, '10.1.2.3'), 1, 'the forced range is banned');
    assert.equal(await spopBanned(edge.spoa, '192.0.2.1'), 0, 'outside the range');
  });

  test('blacklist add: refused under the floor, applied with --force', async () => {
    const refused = await cli('blacklist', 'add', '32.0.0.0/6');
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, /floor \/8/);
    assert.equal(await spopBanned(edge.spoa, '33.1.1.1'), 0);
    const forced = await cli('blacklist', 'add', '32.0.0.0/6', '--force');
    assert.equal(forced.code, 0, forced.err);
    assert.equal(await spopBanned(edge.spoa, '33.1.1.1'), 1);
  });

  test('replay --help and help replay print the replay options, not the general help', async () => {
    for (const args of [
      ['replay', '--help'],
      ['help', 'replay'],
    ]) {
      const r = await edgeban(args);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^usage: edgeban replay/m, args.join(' '));
      for (const opt of ['--regex', '--ip-group', '--preset', '--patterns', '--json'])
        assert.ok(r.out.includes(opt), `${opt} in ${args.join(' ')}`);
      assert.doesNotMatch(r.out, /^commands:/m, 'not the general help');
    }
    const general = await edgeban(['--help']);
    assert.match(general.out, /^commands:/m, 'control: the general help lists the commands');
  });

  // last: it makes this peer (127.0.0.1) wait for every token, the right one too
  test('after 5 wrong tokens the server answers 429 and the CLI prints its Retry-After', async () => {
    const wrong = () => edgeban(['bans', '--url', url], { EDGEBAN_TOKEN: 'wrong-token' });
    for (let i = 0; i < 5; i++) {
      const r = await wrong();
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /HTTP 401/);
      assert.doesNotMatch(r.err, /Retry-After/);
    }
    const r = await wrong();
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /HTTP 429/);
    const m = /the server asks to retry after (\d+) s \(Retry-After\)/.exec(r.err);
    assert.ok(m, r.err);
    assert.ok(Number(m[1]) >= 1, r.err);
    // the right token waits too, and is told how long
    const right = await cli('bans');
    assert.equal(right.code, 1, right.err);
    assert.match(right.err, /HTTP 429/);
    assert.match(right.err, /retry after \d+ s/);
  });
});

describe('bin/edgeban.js without a build', () => {
  test('prints a one-line "not built" hint and exits 2', async () => {
    const root = tempDir('edgeban-nodist-');
    mkdirSync(join(root, 'bin'));
    copyFileSync(EDGEBAN_BIN, join(root, 'bin', 'edgeban.js'));
    // the real package.json (type: module) beside it, and no dist/
    writeFileSync(join(root, 'package.json'), readFileSync(join(EDGEBAN_BIN, '..', '..', 'package.json')));
    const r = await edgeban(['status', '192.0.2.1'], {}, join(root, 'bin', 'edgeban.js'));
    assert.equal(r.code, 2, r.err);
    const lines = r.err.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /^edgeban: not built yet \(dist\/ is missing\): run `npm ci && npm run build`/);
    assert.equal(r.out, '');
  });
});
