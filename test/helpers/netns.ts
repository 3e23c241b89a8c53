import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Two network namespaces joined by a veth pair, private addresses only inside them: `srv` holds
 * a listener and edgeban's nftables table, `cli` is the client that gets banned. edgeban itself
 * runs in the host namespace and reaches `srv`'s nftables through an `nft` wrapper that enters it.
 */
export interface NetnsPair {
  srv: string;
  cli: string;
  /** Addresses of each side. */
  srv4: string;
  cli4: string;
  srv6: string;
  cli6: string;
  /** A script that runs the real nft inside `srv` (for nftables.nft). */
  nft: string;
  /** nft inside `srv`, its output. */
  nftIn(args: string[], input?: string): string;
  /** Tries a TCP connection from `cli`: `ok`, `refused` (RST), `timeout`, or another error code. */
  connect(host: string, port: number, timeoutMs?: number): Promise<string>;
  /** Starts a TCP listener on every address of `srv`; resolves once it listens. */
  listen(port: number): Promise<() => void>;
  destroy(): void;
}

/** Why the namespace tests cannot run here, or null when they can. */
export function netnsSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root: ip netns and nft need CAP_NET_ADMIN';
  for (const [bin, args] of [
    ['nft', ['--version']],
    ['ip', ['-V']],
  ] as const) {
    const r = spawnSync(bin, args, { stdio: 'ignore' });
    if (r.error || r.status !== 0) return `${bin} not found (apt-get install nftables iproute2)`;
  }
  return null;
}

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Makes the pair; `tag` keeps names apart between test files (at most 6 characters). */
export function makeNetnsPair(tag: string, dir: string, subnet: number): NetnsPair {
  const id = `${tag}${process.pid % 10000}`;
  const srv = `eb-${id}-s`;
  const cli = `eb-${id}-c`;
  // a pair left by a run that was killed: same names, so gone first
  for (const ns of [srv, cli]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  ip(['netns', 'add', srv]);
  ip(['netns', 'add', cli]);
  const a = `v${id}a`;
  const b = `v${id}b`;
  ip(['link', 'add', a, 'netns', srv, 'type', 'veth', 'peer', 'name', b, 'netns', cli]);
  const srv4 = `10.${subnet}.0.1`;
  const cli4 = `10.${subnet}.0.2`;
  const srv6 = `fd00:eb:${subnet}::1`;
  const cli6 = `fd00:eb:${subnet}::2`;
  for (const [ns, dev, v4, v6] of [
    [srv, a, srv4, srv6],
    [cli, b, cli4, cli6],
  ]) {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
    ip(['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  }
  const nft = join(dir, 'nft-in-netns');
  writeFileSync(nft, `#!/bin/sh\nexec ip netns exec ${srv} nft "$@"\n`);
  chmodSync(nft, 0o755);
  const nftIn = (args: string[], input?: string) =>
    execFileSync('ip', ['netns', 'exec', srv, 'nft', ...args], {
      input,
      encoding: 'utf8',
      // a set of 100k elements lists as ~10 MB of JSON
      maxBuffer: 256 << 20,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  const connect = (host: string, port: number, timeoutMs = 1500) =>
    new Promise<string>((resolve) => {
      const code = `const s=require('net').connect({host:${JSON.stringify(host)},port:${port}});
s.setTimeout(${timeoutMs},()=>{console.log('timeout');process.exit(0)});
s.on('connect',()=>{console.log('ok');s.destroy()});
s.on('error',(e)=>{console.log(e.code==='ECONNREFUSED'?'refused':e.code);});`;
      const p = spawn('ip', ['netns', 'exec', cli, process.execPath, '-e', code], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
      });
      p.once('close', () => resolve(out.trim()));
    });
  const listen = (port: number) =>
    new Promise<() => void>((resolve, reject) => {
      const code = `const net=require('net');
const srv=net.createServer((c)=>{c.on('error',()=>{});c.end('hi');});
srv.listen({host:'::',port:${port},ipv6Only:false},()=>console.log('listening'));`;
      const p = spawn('ip', ['netns', 'exec', srv, process.execPath, '-e', code], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      p.stdout.once('data', () => resolve(() => p.kill('SIGKILL')));
      p.once('exit', (c) => reject(new Error(`listener exited with ${c}`)));
    });
  const destroy = () => {
    for (const ns of [srv, cli]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  return { srv, cli, srv4, cli4, srv6, cli6, nft, nftIn, connect, listen, destroy };
}

/** `nft list ruleset` without the named table: what edgeban must never change. */
export function rulesetWithout(ruleset: string, family: string, table: string): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of ruleset.split('\n')) {
    if (!skipping && line === `table ${family} ${table} {`) {
      skipping = true;
      continue;
    }
    if (skipping) {
      if (line === '}') skipping = false;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

/** The elements of one set (as nft prints them: addresses and prefixes, no timeouts). */
export function setElements(p: NetnsPair, family: string, table: string, set: string): string[] {
  const j = JSON.parse(p.nftIn(['-j', 'list', 'set', family, table, set])) as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  const elems = j.nftables.find((x) => x.set)?.set?.elem ?? [];
  return elems
    .map((e) => {
      const v = (e as { elem?: { val: unknown } }).elem?.val ?? e;
      if (typeof v === 'string') return v;
      const pfx = (v as { prefix?: { addr: string; len: number } }).prefix;
      return pfx ? `${pfx.addr}/${pfx.len}` : JSON.stringify(v);
    })
    .sort();
}
