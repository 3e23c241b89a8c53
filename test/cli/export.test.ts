import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { api, EDGEBAN_BIN, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { findBinary } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

describe('edgeban export against a running edgeban', () => {
  let edge: EdgeProcess;
  const dir = tempDir('edgeban-export-');
  const exportAs = async (format: string) =>
    (
      await run(process.execPath, [
        EDGEBAN_BIN,
        'export',
        '--format',
        format,
        '--url',
        `http://127.0.0.1:${edge.http}`,
      ])
    ).stdout;

  before(async () => {
    edge = await startEdge(dir);
    await edge.waitFor('edgeban started');
    await api(edge, '/api/ban', { ip_address: '192.0.2.7', duration: '1h' });
    await api(edge, '/api/ban', { ip_address: '2001:db8::/64', duration: '1h' });
    await api(edge, '/api/blacklist', { ip_address: '198.51.100.0/24' });
    // a whitelist entry carving an exception out of the blacklisted range
    await api(edge, '/api/whitelist', { ip_address: '198.51.100.10' });
  });
  after(() => {
    edge?.proc.kill('SIGKILL');
  });

  test('plain: the bans in force, one a line', async () => {
    assert.deepEqual((await exportAs('plain')).trim().split('\n').sort(), [
      '192.0.2.7',
      '198.51.100.0/24',
      '2001:db8::/64',
    ]);
  });

  test('haproxy-map: the haproxy_map lines, and HAProxy loads them', async () => {
    const text = await exportAs('haproxy-map');
    assert.deepEqual(text.trim().split('\n').sort(), [
      '192.0.2.7 banned',
      '198.51.100.0/24 blacklisted',
      '198.51.100.10 allowed',
      '2001:db8::/64 banned',
    ]);
    const hap = findBinary('haproxy');
    if (!hap) return;
    const map = join(dir, 'export.map');
    writeFileSync(map, text);
    const cfg = join(dir, 'check.cfg');
    writeFileSync(
      cfg,
      `defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend f\n  bind 127.0.0.1:9\n  http-request deny if { src,map_ip(${map}) -m str banned blacklisted }\n`,
    );
    assert.match(execFileSync(hap, ['-c', '-f', cfg], { encoding: 'utf8' }), /Configuration file is valid/);
  });

  test('json: every entry with its kind and expiry', async () => {
    const rows = JSON.parse(await exportAs('json')) as {
      target: string;
      kind: string;
      expires_at: string | null;
    }[];
    const byTarget = new Map(rows.map((r) => [r.target, r]));
    assert.equal(byTarget.get('192.0.2.7')?.kind, 'temp');
    assert.ok(Date.parse(byTarget.get('192.0.2.7')?.expires_at ?? '') > Date.now() + 3500_000);
    assert.equal(byTarget.get('198.51.100.0/24')?.expires_at, null);
    assert.equal(byTarget.get('198.51.100.10')?.kind, 'whitelist');
  });

  test('nft: a script nft accepts, temporary bans with their remaining time', async (t) => {
    const text = await exportAs('nft');
    assert.match(text, /192\.0\.2\.7 timeout 3[56]\d\ds/);
    assert.match(text, /198\.51\.100\.0\/24[,\s]/);
    assert.match(text, /2001:db8::\/64 timeout/);
    const nft = findBinary('nft');
    if (!nft || process.getuid?.() !== 0) return t.skip('nft -c needs nft and root');
    const file = join(dir, 'export.nft');
    writeFileSync(file, text);
    execFileSync(nft, ['-c', '-f', file]);
  });

  test('an unknown format is a usage error', async () => {
    await assert.rejects(
      exportAs('csv'),
      (err: { code?: number; stderr?: string }) =>
        err.code === 2 && /--format must be one of/.test(err.stderr ?? ''),
    );
  });
});
