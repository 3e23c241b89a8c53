import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { BanEngine } from '../../src/main/engine/index.js';
import { createLogger } from '../../src/main/log/logger.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { NftablesUnavailableError } from '../../src/main/sinks/nftables/errors.js';
import { nftablesMetrics } from '../../src/main/sinks/nftables/metrics.js';
import { familiesOf } from '../../src/main/sinks/nftables/script.js';
import { NftablesSink } from '../../src/main/sinks/nftables/sink.js';
import { BanTable } from '../../src/shared/bantable/index.js';
import { api, startEdge } from '../helpers/edge.js';
import { makeNetnsPair, type NetnsPair, netnsSkipReason, setElements } from '../helpers/netns.js';
import { tempDir } from '../helpers/tmp.js';

const skip = netnsSkipReason() ?? false;
if (skip) console.log(`# skipping the nftables set tests: ${skip}`);

function newEngine(): BanEngine {
  return new BanEngine({
    table: new BanTable({ initialCapacity: 1024 }),
    ...BanEngine.configOptions(defaultConfig().ban),
    nodeId: 'test',
  });
}

describe('nftables sets kept by the sink (real nft in a namespace)', { skip }, () => {
  let net: NetnsPair;
  let dir: string;
  const log = createLogger('silent', { pretty: false });

  before(() => {
    dir = tempDir('edgeban-nftsets-');
    net = makeNetnsPair('st', dir, 202);
  });
  after(() => net?.destroy());

  const sinkFor = (engine: BanEngine, metrics = new Metrics({ defaultMetrics: false })) =>
    new NftablesSink({
      spec: {
        family: 'inet',
        table: 'edgeban',
        families: familiesOf('inet'),
        chain: false,
        ports: [],
        action: 'drop',
      },
      nft: net.nft,
      engine,
      log,
      metrics: nftablesMetrics(metrics),
      flushIntervalMs: 10,
      maxPending: 1000,
      resyncIntervalMs: 60_000,
    });
  const v4 = () => setElements(net, 'inet', 'edgeban', 'banned_v4');

  test('prefixes inside a banned prefix leave the interval set while it is there, and come back after', async () => {
    const engine = newEngine();
    const sink = sinkFor(engine);
    await sink.start();
    const nets = () => setElements(net, 'inet', 'edgeban', 'banned_v4_nets');
    engine.ban('10.202.1.5', { durationMs: 3_600_000 });
    engine.ban('10.202.1.0/26', { durationMs: 3_600_000 });
    engine.ban('10.202.1.128/26', { durationMs: 3_600_000 });
    engine.ban('10.202.2.0/24', { durationMs: 3_600_000 });
    await sink.flush();
    assert.deepEqual(v4(), ['10.202.1.5']);
    assert.deepEqual(nets(), ['10.202.1.0/26', '10.202.1.128/26', '10.202.2.0/24']);
    // the kernel refuses overlapping intervals: the /24 replaces the two /26s inside it; the
    // address is in a hash set of its own and stays, with its own timeout
    engine.ban('10.202.1.0/24', { durationMs: 3_600_000 });
    await sink.flush();
    assert.deepEqual(nets(), ['10.202.1.0/24', '10.202.2.0/24']);
    assert.deepEqual(v4(), ['10.202.1.5']);
    engine.unban('10.202.1.0/24', {});
    await sink.flush();
    assert.deepEqual(nets(), ['10.202.1.0/26', '10.202.1.128/26', '10.202.2.0/24']);
    assert.equal(sink.failures, 0);
    for (const t of ['10.202.1.5', '10.202.1.0/26', '10.202.1.128/26', '10.202.2.0/24']) engine.unban(t, {});
    await sink.stop();
    assert.deepEqual(v4(), []);
    assert.deepEqual(nets(), []);
  });

  test('a batch nft refuses is counted and followed by a resync to the ban table', async () => {
    const engine = newEngine();
    const metrics = new Metrics({ defaultMetrics: false });
    const sink = sinkFor(engine, metrics);
    await sink.start();
    engine.ban('10.202.3.1', { durationMs: 3_600_000 });
    await sink.flush();
    // someone else puts a prefix into edgeban's interval set: the next ban inside it overlaps
    const nets = () => setElements(net, 'inet', 'edgeban', 'banned_v4_nets');
    net.nftIn(['add', 'element', 'inet', 'edgeban', 'banned_v4_nets', '{ 10.202.4.0/24 }']);
    net.nftIn(['add', 'element', 'inet', 'edgeban', 'banned_v4', '{ 10.202.5.5 }']);
    engine.ban('10.202.4.0/28', { durationMs: 3_600_000 });
    await sink.flush();
    assert.equal(sink.failures, 1);
    assert.match(await metrics.registry.metrics(), /edgeban_nftables_batch_errors_total 1/);
    await sink.flush(); // the resync: flush the sets, add what the engine has
    assert.deepEqual(v4(), ['10.202.3.1']);
    assert.deepEqual(nets(), ['10.202.4.0/28']);
    assert.equal(sink.failures, 1);
    engine.unban('10.202.3.1', {});
    engine.unban('10.202.4.0/28', {});
    await sink.stop();
    assert.deepEqual(v4(), []);
    assert.deepEqual(nets(), []);
  });

  test('a table of that name not made by edgeban is refused, naming nftables.table', async () => {
    net.nftIn(['add', 'table', 'inet', 'theirs']);
    const sink = new NftablesSink({
      spec: { family: 'inet', table: 'theirs', families: [4, 6], chain: true, ports: [22], action: 'drop' },
      nft: net.nft,
      engine: newEngine(),
      log,
      flushIntervalMs: 10,
      maxPending: 1000,
      resyncIntervalMs: 60_000,
    });
    await assert.rejects(sink.start(), (err: unknown) => {
      assert.ok(err instanceof NftablesUnavailableError);
      assert.equal(err.key, 'nftables.table');
      return true;
    });
    // and left as it was: empty
    assert.equal(net.nftIn(['list', 'table', 'inet', 'theirs']).trim(), 'table inet theirs {\n}');
  });

  test('edgeban serve without nft, or without CAP_NET_ADMIN: one clear line naming the key, exit 1', async () => {
    const d = tempDir('edgeban-nftmiss-');
    const missing = await startEdge(d, {
      FAIL2BAN_NFTABLES_ENABLED: 'true',
      FAIL2BAN_NFTABLES_NFT: join(d, 'no-such-nft'),
    });
    assert.equal(await missing.exited, 1);
    assert.match(missing.out(), /nftables\.nft: cannot run .*no-such-nft.*ENOENT/);
    assert.doesNotMatch(missing.out(), /\n\s+at /); // no stack trace
    // nft as an unprivileged user (what edgeban run as one would get)
    const setpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' });
    if (setpriv.status !== 0) return;
    const weak = join(d, 'nft-nobody');
    writeFileSync(
      weak,
      `#!/bin/sh\nexec ip netns exec ${net.srv} setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all nft "$@"\n`,
    );
    chmodSync(weak, 0o755);
    const denied = await startEdge(d, { FAIL2BAN_NFTABLES_ENABLED: 'true', FAIL2BAN_NFTABLES_NFT: weak });
    assert.equal(await denied.exited, 1);
    assert.match(denied.out(), /nftables\.enabled: nft needs CAP_NET_ADMIN/);
  });

  test('config: bad nftables values are refused at load, naming the key', async () => {
    const d = tempDir('edgeban-nftcfg-');
    const bad = await startEdge(d, { FAIL2BAN_NFTABLES_PORTS: '22,70000', FAIL2BAN_NFTABLES_FAMILY: 'arp' });
    assert.notEqual(await bad.exited, 0);
    assert.match(bad.out(), /nftables\.ports/);
    assert.match(bad.out(), /nftables\.family/);
  });

  test('the API ban reaches the set of a running edgeban (sanity of the wiring)', async () => {
    const d = tempDir('edgeban-nftapi-');
    const edge = await startEdge(d, {
      FAIL2BAN_NFTABLES_ENABLED: 'true',
      FAIL2BAN_NFTABLES_NFT: net.nft,
      FAIL2BAN_NFTABLES_FLUSH_INTERVAL: '10ms',
      FAIL2BAN_DATABASE_ENABLED: 'false',
    });
    await edge.waitFor('edgeban started', 15_000);
    await api(edge, '/api/ban', { ip_address: '10.202.9.9', duration: '1h' });
    const end = Date.now() + 5000;
    while (!v4().includes('10.202.9.9') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.ok(v4().includes('10.202.9.9'));
    edge.proc.kill('SIGTERM');
    await edge.exited;
  });
});
