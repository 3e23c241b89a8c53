/**
 * The SQL store: log-made bans persisted per second (batched, against one write per ban in the
 * same run), start-up with 100k and 1M persisted bans (the whole `edgeban serve` process, and
 * the restore in-process: database read vs engine, with the longest event-loop stall, which is
 * how long a lookup could wait), and reload time for 1,000 patterns (against an unchanged
 * reload). SQLite always; PostgreSQL too when its server is installed (private cluster).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pino from 'pino';
import { defaultConfig } from '../src/main/config/defaults.js';
import { createCore } from '../src/main/core.js';
import { BanEngine } from '../src/main/engine/index.js';
import type { BanEvent } from '../src/main/engine/types.js';
import { MatcherPool } from '../src/main/ingest/pool.js';
import { SqlStore } from '../src/main/store/sql-store.js';
import { StoreBinding } from '../src/main/store/wiring.js';
import { parseIp } from '../src/shared/ip/parse.js';
import type { PatternSpec } from '../src/shared/patterns/compile.js';
import { builtin, effectivePatterns } from '../src/shared/patterns/presets/index.js';
import { freePort } from '../test/helpers/net.js';
import { PostgresCluster, postgresBinDir } from '../test/helpers/postgres.js';
import type { BenchReport, BenchRow } from './run.js';

const silent = pino({ level: 'silent' });
const here = import.meta.dirname;
const BIN = join(here, '..', '..', 'bin', 'edgeban.js');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Unique IPv4 addresses: 11.0.0.7, 11.0.1.7, … (up to 16M). */
function ipOf(i: number): string {
  return `${11 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.7`;
}

interface Db {
  name: string;
  driver: string;
  fresh(): Promise<string>;
  /** Fills `bans` and `offences` with n active rows (the schema exists already). */
  fill(dsn: string, n: number): Promise<void>;
  /** Plain SQL through a side connection, as an operator would. */
  exec(dsn: string, sql: string): Promise<void>;
  close(): Promise<void>;
}

function sqliteDb(): Db {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-store-'));
  let k = 0;
  return {
    name: 'SQLite',
    driver: 'sqlite3',
    fresh: async () => join(dir, `b${++k}.db`),
    async fill(dsn, n) {
      const db = new Database(dsn);
      db.pragma('journal_mode = WAL');
      const now = Date.now();
      const ban = db.prepare(
        'INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      const off = db.prepare(
        'INSERT INTO offences (ip_address, ban_count, last_offence_ms) VALUES (?, ?, ?)',
      );
      db.transaction(() => {
        for (let i = 0; i < n; i++) {
          const ip = ipOf(i);
          ban.run(
            ip,
            'temp',
            '5 failures (dovecot-auth-failed)',
            'dovecot-auth-failed',
            now,
            now + 3600_000 + i,
            'engine',
            'bench',
            1,
          );
          off.run(ip, 1, now);
        }
      })();
      db.close();
    },
    async exec(dsn, sql) {
      const db = new Database(dsn, { timeout: 5000 });
      db.exec(sql);
      db.close();
    },
    async close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresDb(): Promise<Db> {
  const cluster = await PostgresCluster.create();
  let k = 0;
  return {
    name: 'PostgreSQL',
    driver: 'postgres',
    fresh: async () => cluster.createDatabase(`b${++k}`),
    async fill(dsn, n) {
      const db = new URL(dsn).pathname.slice(1);
      const now = Date.now();
      const ip = `(11 + (i >> 16))::text || '.' || ((i >> 8) & 255)::text || '.' || (i & 255)::text || '.7'`;
      await cluster.query(
        db,
        `INSERT INTO bans SELECT ${ip}, 'temp', '5 failures (dovecot-auth-failed)', 'dovecot-auth-failed', $1::bigint, $1::bigint + 3600000 + i, 'engine', 'bench', 1 FROM generate_series(0, $2::int - 1) AS i`,
        [now, n],
      );
      await cluster.query(
        db,
        `INSERT INTO offences SELECT ${ip}, 1, $1::bigint FROM generate_series(0, $2::int - 1) AS i`,
        [now, n],
      );
      // no ANALYZE here: the restore must cope with a table its statistics have not caught up with
    },
    async exec(dsn, sql) {
      await cluster.query(new URL(dsn).pathname.slice(1), sql);
    },
    close: () => cluster.destroy(),
  };
}

function newStore(db: Db, dsn: string, flushMs = 1000): SqlStore {
  const cfg = defaultConfig();
  return new SqlStore({
    config: { ...cfg.database, driver: db.driver, dsn, flush_interval: flushMs, refresh_interval: 3_600_000 },
    log: silent,
    seed: { patterns: builtin as PatternSpec[], policy: BanEngine.policyFromConfig(cfg.ban) },
  });
}

function newEngine(): BanEngine {
  return createCore({ nodeId: 'bench', engine: { ignoreIps: [], ipv6Prefix: 64 } }).engine;
}

/** Events of n log-made bans (each: one offence, one ban), made by the real engine. */
function logBanEvents(n: number): BanEvent[] {
  const engine = newEngine();
  const events: BanEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const a = parseIp(ipOf(i));
    for (let k = 0; k < 5; k++) engine.recordFailure(a.bytes, a.family, 'dovecot-auth-failed', now);
  }
  return events;
}

async function persistRate(db: Db, quick: boolean): Promise<BenchRow[]> {
  const n = quick ? 20_000 : 100_000;
  const nSingle = quick ? 300 : 2000;
  const events = logBanEvents(n);
  const runs = quick ? 2 : 3;
  const batched: number[] = [];
  for (let r = 0; r < runs; r++) {
    const store = newStore(db, await db.fresh(), 60_000);
    await store.start();
    const t0 = performance.now();
    for (const e of events) store.enqueue(e);
    const { durable } = await store.flush();
    const s = (performance.now() - t0) / 1000;
    await store.stop();
    if (!durable) throw new Error('flush not durable');
    batched.push(n / s);
  }
  const single: number[] = [];
  for (let r = 0; r < runs; r++) {
    const store = newStore(db, await db.fresh(), 60_000);
    await store.start();
    const t0 = performance.now();
    for (let i = 0; i < nSingle * 2; i += 2) {
      store.enqueue(events[i]);
      store.enqueue(events[i + 1]);
      await store.flush();
    }
    single.push(nSingle / ((performance.now() - t0) / 1000));
    await store.stop();
  }
  return [
    {
      name: `log-made bans persisted (${db.name}, batched, ${n.toLocaleString('en-US')} bans + offences)`,
      value: median(batched),
      unit: 'bans/s',
      baseline: { name: 'one transaction per ban', value: median(single) },
      notes: `median of ${runs} runs; each ban is a bans row and an offences row`,
      // a flush that is not durable throws before this row exists
      verified: true,
      verification: 'every batched flush reported durable',
    },
  ];
}

/** In-process restore: the database read alone, then the app's restore (read overlapped with the engine). */
async function restoreInProcess(db: Db, dsn: string, n: number): Promise<BenchRow[]> {
  const store = newStore(db, dsn);
  const engine = newEngine();
  const ctx = { config: defaultConfig(), configPath: null, log: silent, metrics: undefined as never };
  const binding = new StoreBinding(store, { ctx, engine, ingest: { setPatterns: () => {} } });
  await store.start();
  let t0 = performance.now();
  const read = await store.loadStatePaged(Date.now(), () => {});
  const tRead = performance.now() - t0;
  if (read.bans !== n) throw new Error(`read ${read.bans} of ${n}`);
  const h = monitorEventLoopDelay({ resolution: 2 });
  h.enable();
  t0 = performance.now();
  await binding.restore();
  const tRestore = performance.now() - t0;
  h.disable();
  if (engine.activeTempBans !== n) throw new Error(`restored ${engine.activeTempBans} of ${n}`);
  binding.close();
  await store.stop();
  const k = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
  return [
    {
      name: `restore ${k} bans + offences in-process (${db.name})`,
      value: tRestore,
      unit: 'ms',
      baseline: { name: 'database read alone', value: tRead },
      notes: `pages read while the engine takes the previous one, chunks of 2,000; longest event-loop stall ${(h.max / 1e6).toFixed(0)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms)`,
      verified: true,
      verification: `${n} rows read and ${n} bans active in the engine after the restore`,
    },
  ];
}

/** `edgeban serve` from spawn to "listening" and to "persisted bans restored". */
async function processStart(db: Db, dsn: string): Promise<{ listening: number; restored: number }> {
  const cwd = mkdtempSync(join(tmpdir(), 'edgeban-bench-start-'));
  const env = {
    ...process.env,
    FAIL2BAN_DATABASE_DRIVER: db.driver,
    FAIL2BAN_DATABASE_DSN: dsn,
    FAIL2BAN_SPOA_ADDRESS: '127.0.0.1',
    FAIL2BAN_SPOA_PORT: String(await freePort()),
    FAIL2BAN_SYSLOG_ADDRESS: `127.0.0.1:${await freePort()}`,
    FAIL2BAN_PROMETHEUS_ENABLED: 'false',
    FAIL2BAN_NGINX_ENABLED: 'false',
    FAIL2BAN_ENVOY_ENABLED: 'false',
    FAIL2BAN_WORKERS_COUNT: '1',
  };
  const t0 = performance.now();
  const proc: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let listening = 0;
  let restored = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (!listening && out.includes('"msg":"spoa started"')) listening = performance.now() - t0;
      if (!restored && out.includes('persisted bans restored')) restored = performance.now() - t0;
      if (listening && restored) resolve();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', () => reject(new Error(`edgeban exited:\n${out}`)));
    setTimeout(() => reject(new Error(`timeout:\n${out.slice(-2000)}`)), 180_000).unref();
  });
  proc.kill('SIGKILL');
  await new Promise((r) => proc.once('exit', r));
  rmSync(cwd, { recursive: true, force: true });
  return { listening, restored };
}

async function startup(db: Db, n: number, quick: boolean): Promise<BenchRow[]> {
  const dsn = await db.fresh();
  const s = newStore(db, dsn);
  await s.start(); // migrate
  await s.stop();
  await db.fill(dsn, n);
  const rows = await restoreInProcess(db, dsn, n);
  const runs = quick ? 1 : 3;
  const listening: number[] = [];
  const restored: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = await processStart(db, dsn);
    listening.push(t.listening);
    restored.push(t.restored);
  }
  const k = `${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`}`;
  rows.unshift({
    name: `edgeban serve with ${k} persisted bans (${db.name}): spawn → every ban restored`,
    value: median(restored),
    unit: 'ms',
    notes: `SPOA listening after ${median(listening).toFixed(0)} ms (it opens once the restore is done); median of ${runs}`,
  });
  return rows;
}

async function reloadPatterns(db: Db, quick: boolean): Promise<BenchRow[]> {
  const dsn = await db.fresh();
  const store = newStore(db, dsn);
  const pool = new MatcherPool({ threads: 1, patterns: builtin });
  const ctx = { config: defaultConfig(), configPath: null, log: silent, metrics: undefined as never };
  let applied = 0;
  const binding = new StoreBinding(store, {
    ctx,
    engine: newEngine(),
    ingest: {
      setPatterns: (specs) => {
        pool.setPatterns(effectivePatterns(specs));
        applied = specs.length;
      },
    },
  });
  await store.start();
  const values = (r: number) =>
    Array.from(
      { length: 1000 },
      (_, i) => `('bench-${i}', 'svc${i}: auth failure v${r} from (?P<ip>[0-9a-fA-F:.]+)', 1, 1, 'bench')`,
    ).join(',');
  await db.exec(dsn, 'DELETE FROM patterns');
  await db.exec(
    dsn,
    `INSERT INTO patterns (name, regex, ip_group, severity, description) VALUES ${values(0)}`,
  );
  await store.reloadNow();
  const runs = quick ? 3 : 7;
  const changed: number[] = [];
  const same: number[] = [];
  for (let r = 1; r <= runs; r++) {
    // every regex differs from the running set: the whole set is read, validated and recompiled
    await db.exec(dsn, `UPDATE patterns SET regex = replace(regex, 'v${r - 1} ', 'v${r} ')`);
    applied = 0;
    const v0 = pool.current.version;
    let t0 = performance.now();
    await store.reloadNow();
    changed.push(performance.now() - t0);
    if (applied !== 1000 || pool.current.version === v0) throw new Error(`reload applied ${applied}`);
    t0 = performance.now();
    await store.reloadNow();
    same.push(performance.now() - t0);
  }
  binding.close();
  await store.stop();
  await pool.close();
  return [
    {
      name: `reload of 1,000 changed patterns (${db.name}): read, validate, new matcher set`,
      value: median(changed),
      unit: 'ms',
      baseline: { name: 'same reload, nothing changed', value: median(same) },
      notes: `median of ${runs}; the matcher workers compile the new version on their next batch`,
      verified: true,
      verification: 'every changed reload applied 1,000 patterns as a new matcher version',
    },
  ];
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  const rows: BenchRow[] = [];
  const dbs: Db[] = [sqliteDb()];
  if (postgresBinDir()) dbs.push(await postgresDb());
  else console.error('store bench: PostgreSQL server not installed, SQLite only');
  try {
    for (const db of dbs) {
      rows.push(...(await persistRate(db, quick)));
      rows.push(...(await reloadPatterns(db, quick)));
      for (const n of quick ? [10_000, 100_000] : [100_000, 1_000_000])
        rows.push(...(await startup(db, n, quick)));
    }
  } finally {
    for (const db of dbs) await db.close();
  }
  return { bench: 'store', rows, params: { quick } };
}
