/**
 * The SPOA at start-up: a whole `edgeban serve` with 100k bans in its SQLite database, and a peer
 * that connects the moment the port accepts. Reports spawn → port accepts, and on that first
 * connection accept → AGENT-HELLO and accept → the ACKs of two NOTIFYs (a database ban, a clean
 * address), against the same HELLO once the restore is done. Every first answer is checked.
 * `--baseline-bin=PATH` runs another build's `bin/edgeban.js` on the same database in the same
 * run (before/after a change). `--quick`: 3 starts instead of 7.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freePort } from '../test/helpers/net.js';
import { hello26, ipv4, notify, RawPeer } from '../test/spoa/client.js';
import { flagValue } from './args.js';
import type { BenchReport, BenchRow } from './run.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'edgeban.js');
const BANS = 100_000;
const AGENT_HELLO = 101;
const BANNED = (i: number) => `10.${i >>> 16}.${(i >>> 8) & 255}.${i & 255}`;
/** The last row written: the restore reaches it last. */
const LAST = BANNED(BANS - 1);
const CLEAN = '192.0.2.1';

interface Start {
  accept: number;
  restored: number;
  hello: number;
  acks: number;
  settledHello: number;
  right: boolean;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function spawnEdge(
  bin: string,
  cwd: string,
  spoa: number,
): Promise<{ proc: ChildProcess; out: () => string }> {
  const proc = spawn(process.execPath, [bin, 'serve'], {
    cwd,
    env: {
      ...process.env,
      FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
      FAIL2BAN_SPOA_PORT: String(spoa),
      FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${await freePort()}`,
      FAIL2BAN_NGINX_ADDRESS: '127.0.0.1',
      FAIL2BAN_NGINX_PORT: String(await freePort()),
      FAIL2BAN_PROMETHEUS_ADDRESS: '127.0.0.1',
      FAIL2BAN_PROMETHEUS_PORT: String(await freePort()),
      FAIL2BAN_DATABASE_DSN: join(cwd, 'fail2ban.db'),
      FAIL2BAN_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  return { proc, out: () => out };
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

/** The schema from one run of edgeban, then the bans written straight into the file. */
async function prepare(cwd: string): Promise<void> {
  const spoa = await freePort();
  const e = await spawnEdge(BIN, cwd, spoa);
  await connectEarly(spoa, e.proc, e.out);
  await kill(e.proc);
  const db = new Database(join(cwd, 'fail2ban.db'));
  const now = Date.now();
  const put = db.prepare(
    'INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let i = 0; i < BANS; i++)
      put.run(BANNED(i), 'temp', 'bench', 'dovecot-auth-failed', now, now + 86_400_000, 'engine', 'x', 1);
  })();
  db.close();
}

async function connectEarly(port: number, proc: ChildProcess, out: () => string): Promise<RawPeer> {
  const end = performance.now() + 60_000;
  for (;;) {
    try {
      return await RawPeer.open(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
      if (performance.now() > end || proc.exitCode !== null)
        throw new Error(`SPOA never accepted:\n${out()}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

/** HELLO and two NOTIFYs; ms from `t0` to the AGENT-HELLO and to the second ACK, and the answers. */
async function ask(peer: RawPeer, t0: number): Promise<{ hello: number; acks: number; answers: number[] }> {
  peer.send(hello26());
  peer.send(notify(1, 1, [['check-client-ip', [['src', ipv4(LAST)]]]]));
  peer.send(notify(1, 2, [['check-client-ip', [['src', ipv4(CLEAN)]]]]));
  await peer.waitFrames(1, 60_000);
  const hello = performance.now() - t0;
  const frames = await peer.waitFrames(3, 60_000);
  const acks = performance.now() - t0;
  if (frames[0].type !== AGENT_HELLO) throw new Error(`first frame type ${frames[0].type}`);
  const answers = [1, 2].map((fid) => {
    const f = frames.find((x) => x.idBytes[1] === fid);
    return f ? f.payload[f.payload.length - 1] : -1;
  });
  return { hello, acks, answers };
}

async function oneStart(bin: string, cwd: string): Promise<Start> {
  const spoa = await freePort();
  const t0 = performance.now();
  const e = await spawnEdge(bin, cwd, spoa);
  try {
    let restored = 0;
    e.proc.stdout?.on('data', () => {
      if (!restored && e.out().includes('persisted bans restored')) restored = performance.now() - t0;
    });
    const peer = await connectEarly(spoa, e.proc, e.out);
    const accepted = performance.now();
    const first = await ask(peer, accepted);
    peer.close();
    // settled: the restore done and a moment of quiet
    const end = performance.now() + 120_000;
    while (!restored && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!restored) throw new Error(`never restored:\n${e.out().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    const again = await RawPeer.open(spoa);
    const t1 = performance.now();
    const settled = await ask(again, t1);
    again.close();
    return {
      accept: accepted - t0,
      restored,
      hello: first.hello,
      acks: first.acks,
      settledHello: settled.hello,
      right: first.answers[0] === 1 && first.answers[1] === 0,
    };
  } finally {
    await kill(e.proc);
  }
}

function rows(label: string, starts: Start[]): BenchRow[] {
  const right = starts.filter((s) => s.right).length;
  const verified = right === starts.length;
  const verification = `${right} of ${starts.length} first connections answered ${LAST} banned and ${CLEAN} not`;
  return [
    {
      name: `${label}spawn → SPOA port accepts (${BANS / 1000}k bans in SQLite)`,
      value: median(starts.map((s) => s.accept)),
      unit: 'ms',
      stat: `median of ${starts.length}`,
      baseline: { name: 'spawn → every ban restored', value: median(starts.map((s) => s.restored)) },
    },
    {
      name: `${label}first connection: accept → AGENT-HELLO`,
      value: median(starts.map((s) => s.hello)),
      unit: 'ms',
      stat: `median of ${starts.length}`,
      baseline: { name: 'the same once restored', value: median(starts.map((s) => s.settledHello)) },
      verified,
      verification,
    },
    {
      name: `${label}first connection: accept → both ACKs (a database ban, a clean address)`,
      value: median(starts.map((s) => s.acks)),
      unit: 'ms',
      stat: `median of ${starts.length}`,
      verified,
      verification,
    },
  ];
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const runs = quick ? 3 : 7;
  const other = flagValue(args, 'baseline-bin');
  const cwd = mkdtempSync(join(tmpdir(), 'edgeban-bench-spoa-start-'));
  try {
    await prepare(cwd);
    const mine: Start[] = [];
    const theirs: Start[] = [];
    // alternated, so both builds see the same machine load
    for (let i = 0; i < runs; i++) {
      mine.push(await oneStart(BIN, cwd));
      if (other) theirs.push(await oneStart(other, cwd));
    }
    return {
      bench: 'spoa-start',
      params: { bans: BANS, runs, baselineBin: other ?? null },
      rows: [...rows('', mine), ...(other ? rows('baseline build: ', theirs) : [])],
    };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}
