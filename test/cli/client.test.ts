import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { formatTable } from '../../src/main/cli/api-commands.js';
import { EDGEBAN_BIN, type EdgeProcess, spopBanned, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

describe('edgeban CLI client against a running edgeban', () => {
  let edge: EdgeProcess;
  let url: string;
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, [EDGEBAN_BIN, ...args, '--url', url], {
        env: { ...process.env, EDGEBAN_TOKEN: 'cli-test-token' },
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };

  before(async () => {
    const dir = tempDir('edgeban-cli-');
    edge = await startEdge(dir, {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_API_TOKENS: 'cli-test-token',
    });
    await edge.waitFor('edgeban started');
    url = `http://127.0.0.1:${edge.http}`;
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('ban, status, bans, unban: the ban reaches HAProxy answers too', async () => {
    const b = await cli('ban', '198.51.100.23', '--for', '1h30m', '--reason', 'from the cli');
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /IP 198\.51\.100\.23 temporarily banned for 1h30m0s/);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.23'), 1);
    const s = await cli('status', '198.51.100.23');
    assert.match(s.out, /BANNED \(temp 198\.51\.100\.23\)/);
    assert.match(s.out, /reason: +from the cli/);
    const list = await cli('bans');
    assert.match(list.out, /^IP_ADDRESS +DURATION_REMAINING/m);
    assert.match(list.out, /198\.51\.100\.23 +1h(29m5\d|30m0)s/);
    const json = await cli('bans', '--json');
    const parsed = JSON.parse(json.out) as { temp_bans: { ip_address: string }[] };
    assert.equal(parsed.temp_bans[0].ip_address, '198.51.100.23');
    const u = await cli('unban', '198.51.100.23');
    assert.equal(u.code, 0);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.23'), 0);
  });

  test('whitelist and blacklist add, ls, rm', async () => {
    assert.equal((await cli('blacklist', 'add', '203.0.113.0/24', '--reason', 'scanners')).code, 0);
    assert.equal(await spopBanned(edge.spoa, '203.0.113.77'), 1);
    const ls = await cli('blacklist', 'ls');
    assert.match(ls.out, /203\.0\.113\.0\/24 +scanners/);
    assert.equal((await cli('whitelist', 'add', '203.0.113.77')).code, 0);
    assert.equal(await spopBanned(edge.spoa, '203.0.113.77'), 0, 'whitelist wins');
    assert.equal((await cli('whitelist', 'rm', '203.0.113.77')).code, 0);
    assert.equal((await cli('blacklist', 'rm', '203.0.113.0/24')).code, 0);
    assert.equal(await spopBanned(edge.spoa, '203.0.113.77'), 0);
  });

  test('errors: API refusals exit 1 with the message, usage errors exit 2, no token is 401', async () => {
    const bad = await cli('ban', '1.2.3');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /invalid IP address: 1\.2\.3 \(HTTP 400\)/);
    const usage = await cli('ban');
    assert.equal(usage.code, 2);
    const noToken = await run(process.execPath, [EDGEBAN_BIN, 'bans', '--url', url], {
      env: { ...process.env, EDGEBAN_TOKEN: '' },
    }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((noToken as { code: number }).code, 1);
    assert.match((noToken as { stderr: string }).stderr, /Authentication required/);
    const down = await run(process.execPath, [EDGEBAN_BIN, 'bans', '--url', 'http://127.0.0.1:1']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.match((down as { stderr: string }).stderr, /cannot reach edgeban at http:\/\/127\.0\.0\.1:1/);
  });

  test('status exits like grep: 0 banned, 1 not banned, 2 when it cannot tell', async () => {
    assert.equal((await cli('ban', '198.51.100.41', '--for', '10m')).code, 0);
    const banned = await cli('status', '198.51.100.41');
    assert.equal(banned.code, 0, banned.err);
    const free = await cli('status', '198.51.100.42');
    assert.equal(free.code, 1, free.err);
    assert.match(free.out, /198\.51\.100\.42: allowed/);
    assert.equal((await cli('status', '198.51.100.42', '--json')).code, 1);
    assert.equal((await cli('status', '198.51.100.41', '--json')).code, 0);
    assert.equal((await cli('status', 'not-an-ip')).code, 2);
    const down = await run(process.execPath, [
      EDGEBAN_BIN,
      'status',
      '1.2.3.4',
      '--url',
      'http://127.0.0.1:1',
      '--token',
      'x',
    ]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((down as { code: number }).code, 2);
    await cli('unban', '198.51.100.41');
  });

  test('options before the command work: edgeban --url X --token T ban IP', async () => {
    const r = await run(
      process.execPath,
      [
        EDGEBAN_BIN,
        '--url',
        url,
        '--token',
        'cli-test-token',
        '--json',
        'ban',
        '198.51.100.43',
        '--for',
        '5m',
      ],
      { env: { ...process.env, EDGEBAN_TOKEN: '' } },
    );
    assert.equal((JSON.parse(r.stdout) as { success: boolean }).success, true);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.43'), 1);
    await cli('unban', '198.51.100.43');
  });

  test('without --url or a token, the client reads nginx.port and api.tokens from the config file', async () => {
    const dir = tempDir('edgeban-cli-cfg-');
    const file = join(dir, 'edge.yaml');
    writeFileSync(
      file,
      `nginx:\n  address: 0.0.0.0\n  port: ${edge.http}\napi:\n  tokens: [cli-test-token]\n`,
    );
    const env = { ...process.env, EDGEBAN_TOKEN: '', EDGEBAN_URL: '' };
    const viaFlag = await run(process.execPath, [EDGEBAN_BIN, 'bans', '--config', file, '--json'], {
      env,
      cwd: dir,
    });
    assert.equal((JSON.parse(viaFlag.stdout) as { success: boolean }).success, true, viaFlag.stdout);
    // the default search path, as serve uses it: ./config.yaml of the working folder
    writeFileSync(join(dir, 'config.yaml'), readFileSync(file));
    const viaCwd = await run(process.execPath, [EDGEBAN_BIN, 'status', '198.51.100.44'], {
      env,
      cwd: dir,
    }).catch((e: { code: number; stdout: string }) => e);
    assert.equal((viaCwd as { code: number }).code, 1, 'answered: not banned');
    assert.match((viaCwd as { stdout: string }).stdout, /198\.51\.100\.44: allowed/);
  });

  test('bans --config with a broken file: the problems with file and line, exit 2, no stack', async () => {
    const dir = tempDir('edgeban-cli-bad-');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'nginx:\n  port: seventy\n');
    const r = await run(process.execPath, [EDGEBAN_BIN, 'bans', '--config', file], {
      env: { ...process.env, EDGEBAN_TOKEN: '', EDGEBAN_URL: '' },
    }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((r as { code: number }).code, 2);
    const err = (r as { stderr: string }).stderr;
    assert.ok(err.includes(`${file}:2: nginx.port: expected a whole number`), err);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  });
});

test('formatTable pads columns and shows missing values as -', () => {
  const t = formatTable(
    [
      { a: '1.2.3.4', b: null },
      { a: 'x', b: 'long value' },
    ],
    ['a', 'b'],
  );
  assert.equal(t, 'A        B\n1.2.3.4  -\nx        long value');
});
