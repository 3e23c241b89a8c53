/**
 * nftables sink, in a private network namespace pair (real nft, real kernel):
 * - time to apply 100k bans: the start-up resync (flush + add all, one transaction) and 100k API-
 *   speed bans made while the sink runs, against the bare `nft -f -` of the same elements;
 * - per-batch `nft -f -` against one long-lived `nft -i` (one line per batch), 1-element batches;
 * - the kernel's lookup cost: UDP packets/s from the client namespace into a chain that drops
 *   set members, with the set holding 1 element and 100k (the sender is banned in both).
 * Medians of several rounds; each row is checked against the kernel's own listing or counters.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/main/config/defaults.js';
import { BanEngine } from '../src/main/engine/index.js';
import { createLogger } from '../src/main/log/logger.js';
import { familiesOf } from '../src/main/sinks/nftables/script.js';
import { NftablesSink } from '../src/main/sinks/nftables/sink.js';
import { BanTable } from '../src/shared/bantable/index.js';
import { makeNetnsPair, type NetnsPair, netnsSkipReason } from '../test/helpers/netns.js';
import type { BenchReport, BenchRow } from './run.js';

const N = Number(process.env.NFT_BENCH_N ?? 100_000);
const log = createLogger('silent', { pretty: false });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The i-th banned address: 172.16.0.0/12, away from the namespaces' own 10.x addresses. */
const addr = (i: number) => `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function engineWith(n: number): BanEngine {
  const cfg = defaultConfig().ban;
  const e = new BanEngine({
    table: new BanTable({ initialCapacity: 1 << 17 }),
    ...BanEngine.configOptions({ ...cfg, max_ban_time: 7 * 24 * 3600_000 }),
    nodeId: 'bench',
  });
  for (let i = 1; i <= n; i++) e.ban(addr(i), { durationMs: 3_600_000 });
  return e;
}

function sinkOf(net: NetnsPair, engine: BanEngine, chain = false): NftablesSink {
  return new NftablesSink({
    spec: {
      family: 'inet',
      table: 'edgeban',
      families: familiesOf('inet'),
      chain,
      ports: [],
      action: 'drop',
    },
    nft: net.nft,
    engine,
    log,
    flushIntervalMs: 100,
    maxPending: 50_000,
    resyncIntervalMs: 3_600_000,
  });
}

function count(net: NetnsPair): number {
  const j = JSON.parse(net.nftIn(['-j', 'list', 'set', 'inet', 'edgeban', 'banned_v4'])) as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  return j.nftables.find((x) => x.set)?.set?.elem?.length ?? 0;
}

const dropTable = (net: NetnsPair) => {
  try {
    net.nftIn(['delete', 'table', 'inet', 'edgeban']);
  } catch {
    // not there
  }
};

/** `add element` lines for the N banned addresses, 2048 a line, each with a 1 h timeout. */
function lines100k(set: string): string[] {
  const lines: string[] = [];
  for (let i = 1; i <= N; i += 2048) {
    const els: string[] = [];
    for (let j = i; j < Math.min(i + 2048, N + 1); j++) els.push(`${addr(j)} timeout 3600000ms`);
    lines.push(`add element inet edgeban ${set} { ${els.join(', ')} }`);
  }
  return lines;
}

async function timeIt(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** 1-element batches: a fresh `nft -f -` each, or lines to one `nft -i`. */
async function batchCost(net: NetnsPair, k: number): Promise<{ perBatch: number; longLived: number }> {
  const { runNft } = await import('../src/main/sinks/nftables/runner.js');
  const perBatch = await timeIt(async () => {
    for (let i = 0; i < k; i++)
      await runNft(
        net.nft,
        ['-f', '-'],
        `add element inet edgeban banned_v4 { 192.0.2.${i % 250} timeout 60s }\n`,
      );
  });
  const longLived = await timeIt(
    () =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(net.nft, ['-i'], { stdio: ['pipe', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
          // the marker set's listing comes after every line before it was applied
          if (out.includes('marker')) {
            p.stdin.end();
            resolve();
          }
        });
        p.once('error', reject);
        for (let i = 0; i < k; i++)
          p.stdin.write(`add element inet edgeban banned_v4 { 198.51.100.${i % 250} timeout 60s }\n`);
        p.stdin.write('list set inet edgeban marker\n');
      }),
  );
  return { perBatch: perBatch / k, longLived: longLived / k };
}

/** UDP packets/s the client gets through the veth into a chain that drops members (by counter). */
async function pps(net: NetnsPair, secs: number): Promise<number> {
  net.nftIn(['reset', 'counters', 'table', 'inet', 'bench']);
  const code = `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(18);let n=0;const end=Date.now()+${secs * 1000};
function burst(){let p=0;for(let i=0;i<64;i++){p++;s.send(b,9,${JSON.stringify(net.srv4)},()=>{n++;if(--p===0){if(Date.now()<end)burst();else{console.log(n);process.exit(0)}}})}}burst();`;
  await new Promise<void>((resolve) => {
    const p = spawn('ip', ['netns', 'exec', net.cli, process.execPath, '-e', code], { stdio: 'ignore' });
    p.once('close', () => resolve());
  });
  const m = /counter packets (\d+)/.exec(net.nftIn(['list', 'table', 'inet', 'bench']));
  return m ? Number(m[1]) / secs : 0;
}

export async function run(args: string[]): Promise<BenchReport> {
  const skip = netnsSkipReason();
  if (skip) return { bench: 'nftables', rows: [], skipped: skip };
  const quick = args.includes('--quick');
  const rounds = quick ? 2 : 3;
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-nft-'));
  const net = makeNetnsPair('bn', dir, 203);
  const rows: BenchRow[] = [];
  try {
    // 1. 100k bans: the start-up resync, the bans made while it runs, bare nft
    const engine = engineWith(N);
    const resync: number[] = [];
    const live: number[] = [];
    const bare: number[] = [];
    let okResync = true;
    let okLive = true;
    let okBare = true;
    for (let r = 0; r < rounds; r++) {
      dropTable(net);
      const s = sinkOf(net, engine);
      resync.push(await timeIt(() => s.start()));
      okResync &&= count(net) === N;
      await s.stop();
      dropTable(net);
      const empty = engineWith(0);
      const s2 = sinkOf(net, empty);
      await s2.start();
      live.push(
        await timeIt(async () => {
          for (let i = 1; i <= N; i++) {
            empty.ban(addr(i), { durationMs: 3_600_000 });
            // API-speed bans: the event loop turns between chunks, so batches go out meanwhile
            if (i % 5000 === 0) await new Promise((res) => setImmediate(res));
          }
          do await s2.flush();
          while (s2.pending > 0 && s2.failures === 0);
        }),
      );
      okLive &&= count(net) === N && s2.failures === 0;
      await s2.stop();
      dropTable(net);
      net.nftIn(
        ['-f', '-'],
        'add table inet edgeban\nadd set inet edgeban banned_v4 { type ipv4_addr; flags timeout; }\n',
      );
      const lines = lines100k('banned_v4');
      const { applyScript } = await import('../src/main/sinks/nftables/runner.js');
      bare.push(await timeIt(() => applyScript(net.nft, `${lines.join('\n')}\n`)));
      okBare &&= count(net) === N;
    }
    const bareRow = { name: `bare nft -f - of the same ${N / 1000}k elements`, value: median(bare) };
    rows.push(
      {
        name: `apply ${N / 1000}k IPv4 bans: start-up resync (flush + add all, one transaction)`,
        value: median(resync),
        unit: 'ms',
        stat: `median of ${rounds}`,
        baseline: bareRow,
        verified: okResync && okBare,
        verification: `nft -j list set counted ${N} elements after each round`,
      },
      {
        name: `apply ${N / 1000}k IPv4 bans made while the sink runs (engine.ban, 5k per event-loop turn)`,
        value: median(live),
        unit: 'ms',
        stat: `median of ${rounds}`,
        baseline: bareRow,
        verified: okLive,
        verification: `${N} elements in the kernel, no batch refused`,
      },
    );

    // 2. 1-element batches on a set of 100k: a process per batch, one long-lived nft -i, and the
    //    same batch on an interval set of 100k (why addresses are not kept in one)
    net.nftIn(['-f', '-'], 'add set inet edgeban marker { type ipv4_addr; }\n');
    const per: number[] = [];
    const long: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const c = await batchCost(net, quick ? 20 : 50);
      per.push(c.perBatch);
      long.push(c.longLived);
    }
    rows.push({
      name: `1-element batch into a hash set of ${N / 1000}k: a fresh nft -f - per batch (what the sink does)`,
      value: median(per),
      unit: 'ms/batch',
      stat: `median of ${rounds}`,
      baseline: { name: 'one long-lived nft -i, a line per batch', value: median(long) },
    });
    net.nftIn(
      ['-f', '-'],
      `add set inet edgeban ranges { type ipv4_addr; flags interval,timeout; }\n${lines100k('ranges').join('\n')}\n`,
    );
    const { runNft } = await import('../src/main/sinks/nftables/runner.js');
    const interval: number[] = [];
    for (let r = 0; r < rounds; r++)
      interval.push(
        await timeIt(async () => {
          await runNft(
            net.nft,
            ['-f', '-'],
            `add element inet edgeban ranges { 192.0.2.${r} timeout 60s }\n`,
          );
        }),
      );
    rows.push({
      name: `1-element batch into an interval set of ${N / 1000}k (nft -f -)`,
      value: median(interval),
      unit: 'ms/batch',
      stat: `median of ${rounds}`,
      baseline: { name: 'same into the hash set', value: median(per) },
      notes: 'nft reads every interval set of the table back before an element change',
    });

    // 3. kernel lookup: packets/s into a drop rule, the set holding 1 or 100k+1 elements
    dropTable(net);
    net.nftIn(
      ['-f', '-'],
      `table inet bench {\n set s { type ipv4_addr; flags timeout; }\n chain input { type filter hook input priority 0; policy accept; ip saddr @s udp dport 9 counter drop; }\n}\n`,
    );
    net.nftIn(['add', 'element', 'inet', 'bench', 's', `{ ${net.cli4} }`]);
    const secs = quick ? 1 : 2;
    const small: number[] = [];
    const big: number[] = [];
    const fill: string[] = [];
    for (let i = 1; i <= N; i += 2048) {
      const els: string[] = [];
      for (let j = i; j < Math.min(i + 2048, N + 1); j++) els.push(addr(j));
      fill.push(`add element inet bench s { ${els.join(', ')} }`);
    }

    for (let r = 0; r < rounds + 2; r++) {
      small.push(await pps(net, secs));
      net.nftIn(['-f', '-'], `${fill.join('\n')}\n`);
      big.push(await pps(net, secs));
      net.nftIn(['-f', '-'], `flush set inet bench s\nadd element inet bench s { ${net.cli4} }\n`);
    }
    const ps = median(small);
    const pb = median(big);
    rows.push({
      name: `UDP packets/s dropped by a hash-set member rule, set of ${N + 1} elements`,
      value: pb,
      unit: 'packets/s',
      stat: `median of ${rounds + 2} × ${secs} s, alternating`,
      baseline: { name: 'same, set of 1 element', value: ps },
      verified: pb > 0 && ps > 0,
      verification: 'packets counted by the drop rule’s own counter',
      notes:
        `lookup cost ≈ ${((1 / pb - 1 / ps) * 1e9) | 0} ns/packet (difference of the per-packet times); ` +
        'the sender (node dgram, one socket) bounds the rate, so small differences are noise',
    });
    net.nftIn(['delete', 'table', 'inet', 'bench']);
  } finally {
    net.destroy();
  }
  return { bench: 'nftables', rows, params: { bans: N, rounds } };
}
