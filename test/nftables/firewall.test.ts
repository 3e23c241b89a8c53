import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import {
  makeNetnsPair,
  type NetnsPair,
  netnsSkipReason,
  rulesetWithout,
  setElements,
} from '../helpers/netns.js';
import { tempDir } from '../helpers/tmp.js';

const skip = netnsSkipReason() ?? false;
if (skip) console.log(`# skipping the nftables tests: ${skip}`);

/** Polls until `f` holds (a batch goes out every flush_interval). */
async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('nftables sink against a real edgeban serve, in a network namespace', { skip }, () => {
  let net: NetnsPair;
  let dir: string;
  let port: number;
  let stopListener: () => void;
  let edge: EdgeProcess | null = null;
  /** Everything but edgeban's table, before edgeban first ran. */
  let othersBefore: string;

  const env = () => ({
    FAIL2BAN_NFTABLES_ENABLED: 'true',
    FAIL2BAN_NFTABLES_NFT: net.nft,
    FAIL2BAN_NFTABLES_CHAIN: 'true',
    FAIL2BAN_NFTABLES_ACTION: 'reject',
    FAIL2BAN_NFTABLES_PORTS: String(port),
    FAIL2BAN_NFTABLES_FLUSH_INTERVAL: '20ms',
    FAIL2BAN_SPOA_ENABLED: 'false',
    FAIL2BAN_ENVOY_ENABLED: 'false',
  });
  const v4 = () => setElements(net, 'inet', 'edgeban', 'banned_v4');
  const v6 = () => setElements(net, 'inet', 'edgeban', 'banned_v6_64');
  const nets4 = () => setElements(net, 'inet', 'edgeban', 'banned_v4_nets');

  before(async () => {
    dir = tempDir('edgeban-nft-');
    net = makeNetnsPair('fw', dir, 201);
    port = await freePort();
    stopListener = await net.listen(port);
    // an operator's own table and rule beside edgeban's: they must come out unchanged
    net.nftIn(
      ['-f', '-'],
      'table inet operator {\n chain input { type filter hook input priority 0; policy accept; tcp dport 9 counter accept; }\n}\n',
    );
    othersBefore = rulesetWithout(net.nftIn(['list', 'ruleset']), 'inet', 'edgeban');
    edge = await startEdge(dir, env());
    await edge.waitFor('edgeban started', 15_000);
  });

  after(() => {
    if (edge && edge.proc.exitCode === null) edge.proc.kill('SIGKILL');
    stopListener?.();
    net?.destroy();
  });

  test('a banned client is refused at packet level, and let in again after unban', async () => {
    assert.ok(edge);
    assert.equal(await net.connect(net.srv4, port), 'ok');
    assert.equal(await net.connect(net.srv6, port), 'ok');
    await api(edge, '/api/ban', { ip_address: net.cli4, duration: '1h' });
    await until('the IPv4 ban in banned_v4', () => v4().includes(net.cli4));
    assert.equal(await net.connect(net.srv4, port), 'refused');
    // the listener still serves: over IPv6 the same client is not banned yet
    assert.equal(await net.connect(net.srv6, port), 'ok');
    // IPv6 bans are per /64 by default (ban.ipv6_prefix): a hash set matched on the masked source
    await api(edge, '/api/ban', { ip_address: `${net.cli6}/64`, duration: '1h' });
    await until('the /64 in banned_v6_64', () => v6().includes('fd00:eb:201::'));
    assert.equal(await net.connect(net.srv6, port), 'refused');
    await api(edge, '/api/unban', { ip_address: net.cli4 });
    await api(edge, '/api/unban', { ip_address: `${net.cli6}/64` });
    await until('both sets empty', () => v4().length === 0 && v6().length === 0);
    assert.equal(await net.connect(net.srv4, port), 'ok');
    assert.equal(await net.connect(net.srv6, port), 'ok');
  });

  test('a whitelisted address inside a banned prefix is let in', async () => {
    assert.ok(edge);
    await api(edge, '/api/ban', { ip_address: `10.201.0.0/24`, duration: '1h' });
    await until('the prefix in banned_v4_nets', () => nets4().includes('10.201.0.0/24'));
    assert.equal(await net.connect(net.srv4, port), 'refused');
    await api(edge, '/api/whitelist', { ip_address: net.cli4 });
    await until('the address in allowed_v4', () =>
      setElements(net, 'inet', 'edgeban', 'allowed_v4').includes(net.cli4),
    );
    assert.equal(await net.connect(net.srv4, port), 'ok');
    const del = await fetch(`http://127.0.0.1:${edge.http}/api/whitelist?ip_address=${net.cli4}`, {
      method: 'DELETE',
    });
    assert.equal(del.status, 200, await del.text());
    await until('allowed_v4 empty', () => setElements(net, 'inet', 'edgeban', 'allowed_v4').length === 0);
    assert.equal(await net.connect(net.srv4, port), 'refused');
    await api(edge, '/api/unban', { ip_address: '10.201.0.0/24' });
    await until('banned_v4_nets empty', () => nets4().length === 0);
  });

  test('the kernel lifts a ban by its timeout with edgeban stopped (kill -9)', async () => {
    assert.ok(edge);
    await api(edge, '/api/ban', { ip_address: net.cli4, duration: '3s' });
    await until('the ban in banned_v4', () => v4().includes(net.cli4));
    edge.proc.kill('SIGKILL');
    await edge.exited;
    // still refused with nobody running: the element is in the kernel
    assert.equal(await net.connect(net.srv4, port), 'refused');
    await until('the kernel expired the element', () => !v4().includes(net.cli4), 8_000);
    assert.equal(await net.connect(net.srv4, port), 'ok');
  });

  test('a restart resyncs the sets to the ban table, whatever was done to them meanwhile', async () => {
    edge = await startEdge(dir, env());
    await edge.waitFor('edgeban started', 15_000);
    for (const ip of ['10.201.0.50', '10.201.0.51', '10.201.0.52'])
      await api(edge, '/api/ban', { ip_address: ip, duration: '1h' });
    await api(edge, '/api/ban', { ip_address: '10.201.0.60', permanent: true });
    await until('four elements', () => v4().length === 4);
    // let the store write them, then stop; someone edits edgeban's set while it is down
    edge.proc.kill('SIGTERM');
    await edge.exited;
    net.nftIn(['delete', 'element', 'inet', 'edgeban', 'banned_v4', '{ 10.201.0.51 }']);
    net.nftIn(['add', 'element', 'inet', 'edgeban', 'banned_v4', '{ 10.201.0.99 }']);
    edge = await startEdge(dir, env());
    await edge.waitFor('edgeban started', 15_000);
    const table = async () => {
      const temp = await api<{ temp_bans?: { ip_address: string }[] }>(edge as EdgeProcess, '/api/temp-bans');
      const black = await api<{ blacklist?: { ip_address: string }[] }>(
        edge as EdgeProcess,
        '/api/blacklist',
      );
      return [...(temp.temp_bans ?? []), ...(black.blacklist ?? [])].map((b) => b.ip_address).sort();
    };
    await until('the restored bans', async () => (await table()).length === 4);
    const want = await table();
    assert.deepEqual(want, ['10.201.0.50', '10.201.0.51', '10.201.0.52', '10.201.0.60']);
    await until('the set equal to the ban table', () => v4().join() === want.join());
    assert.deepEqual(v4(), want);
    const text = net.nftIn(['list', 'set', 'inet', 'edgeban', 'banned_v4']);
    // the blacklist entry has no timeout, the temporary bans have the time they have left
    assert.match(text, /10\.201\.0\.60(,|\s*})/);
    assert.match(text, /10\.201\.0\.50 timeout (59m|1h)/);
    const metrics = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    assert.match(metrics, /edgeban_nftables_elements\{set="banned_v4"\} 4/);
    assert.match(metrics, /edgeban_nftables_batch_errors_total 0/);
    assert.match(metrics, /edgeban_nftables_sync_lag_seconds \d/);
  });

  test('nothing outside edgeban’s table changed', () => {
    const now = net.nftIn(['list', 'ruleset']);
    assert.match(now, /table inet edgeban \{/);
    assert.equal(rulesetWithout(now, 'inet', 'edgeban'), othersBefore);
  });
});
