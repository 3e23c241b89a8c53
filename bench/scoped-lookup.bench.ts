/**
 * Lookups with scoped bans: 1,000,000 bans (¼ IPv6), 10 % of them scoped to one of 4 services,
 * against the same addresses all banned for every service (the table as it was before scoping),
 * in the same run. Lookup ns/op naming a service and naming none, hits and misses, and the SPOP
 * answerer for a message with and without a `service` argument. Lookups are timed in batches of
 * 1024, all tasks interleaved round by round; each batch's verdicts are checked against what the
 * bans say.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { NotifyAnswerer } from '../src/main/spoa/notify.js';
import { BanTable, Kind, LookupResult, SERVICE_ANY } from '../src/shared/bantable/index.js';
import type { BenchReport, BenchRow } from './run.js';

const BATCH = 1024;
/** Timed rounds (every task once each) and untimed ones first. */
let ROUNDS = 400;
const WARMUP = 40;
/** Batches timed together per task and round (after two that warm the cache). */
const TIMED_BATCHES = 8;
const NOW = 1_800_000_000;
const SERVICES = ['imap', 'smtp', 'http', 'ssh'];
/** One ban in SCOPED_EVERY is scoped (10 %). */
const SCOPED_EVERY = 10;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function u32Bytes(v: number, b: Uint8Array): Uint8Array {
  b[0] = v >>> 24;
  b[1] = (v >>> 16) & 255;
  b[2] = (v >>> 8) & 255;
  b[3] = v & 255;
  return b;
}

/** The service ban i is scoped to (an index of SERVICES), or -1 for a ban of every service. */
const scopeOf = (i: number): number => (i % SCOPED_EVERY === 0 ? (i / SCOPED_EVERY) % SERVICES.length : -1);

/**
 * The probes. IPv4 addresses are int32, as the SPOA hands them over: a number past 2^31 would be
 * boxed at each call, and the benchmark would measure its own allocations.
 */
interface Probes {
  /** IPv4 addresses of bans. */
  v4: Int32Array;
  /** Which ban each v4 probe is (for its scope). */
  v4Ban: Uint32Array;
  v6: Uint8Array;
  v6Ban: Uint32Array;
  miss: Int32Array;
  /** The service id each probe names (0…3). */
  service: Int32Array;
  /** Probes of scoped bans only, and the service each one's ban is scoped to. */
  scoped: Int32Array;
  scopedService: Int32Array;
}

/** GC events and heap growth while `fn` runs (plus a moment for the observer to report). */
async function gcDuring(fn: () => number): Promise<{ gcs: number; heap: number; sink: number }> {
  // once unmeasured: compiling the loop allocates too, and that is not the lookup's
  let sink = fn();
  await new Promise((res) => setTimeout(res, 50));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  const heap0 = process.memoryUsage().heapUsed;
  sink += fn();
  const heap = process.memoryUsage().heapUsed - heap0;
  await new Promise((res) => setTimeout(res, 50));
  obs.disconnect();
  return { gcs, heap, sink };
}

export async function run(args: string[]): Promise<BenchReport> {
  const quick = args.includes('--quick');
  ROUNDS = quick ? 100 : 400;
  const n = quick ? 200_000 : 1_000_000;
  const nV6 = n / 4;
  const nV4 = n - nV6;
  const r = rng(42);
  const v4 = new Uint32Array(nV4);
  // distinct addresses: one banned both for a service and for every one would break the expected
  // verdicts the batches are checked against
  const seen = new Set<number>();
  for (let i = 0; i < nV4; ) {
    const a = (r() | 0x01000000) >>> 0;
    if (seen.has(a)) continue;
    seen.add(a);
    v4[i++] = a;
  }
  seen.clear();
  const v6 = new Uint8Array(nV6 * 16);
  for (let i = 0; i < nV6; i++) {
    v6[i * 16] = 0x20;
    v6[i * 16 + 1] = 0x01;
    for (let k = 2; k < 16; k++) v6[i * 16 + k] = r() & 255;
  }

  // the same addresses twice: every ban global (before scoping), and 10 % scoped over 4 services
  const flat = new BanTable({ initialCapacity: 1024 });
  const scoped = new BanTable({ initialCapacity: 1024 });
  const ids = SERVICES.map((s) => scoped.services.register(s));
  const b4 = new Uint8Array(4);
  const put = (bytes: Uint8Array, family: 4 | 6, i: number) => {
    const len = family === 4 ? 32 : 128;
    flat.set(bytes, family, len, Kind.TEMP_BAN, NOW + 3600, 1, 0);
    const s = scopeOf(i);
    if (s < 0) scoped.set(bytes, family, len, Kind.TEMP_BAN, NOW + 3600, 1, 0);
    else scoped.setScoped(ids[s], bytes, family, len, NOW + 3600, 1, 0);
  };
  for (let i = 0; i < nV4; i++) put(u32Bytes(v4[i], b4), 4, i);
  for (let i = 0; i < nV6; i++) put(v6.subarray(i * 16, i * 16 + 16), 6, nV4 + i);

  const p: Probes = {
    v4: new Int32Array(BATCH),
    v4Ban: new Uint32Array(BATCH),
    v6: new Uint8Array(BATCH * 16),
    v6Ban: new Uint32Array(BATCH),
    miss: new Int32Array(BATCH),
    service: new Int32Array(BATCH),
    scoped: new Int32Array(BATCH),
    scopedService: new Int32Array(BATCH),
  };
  const pr = rng(7);
  for (let i = 0; i < BATCH; i++) {
    const k = pr() % nV4;
    p.v4[i] = v4[k];
    p.v4Ban[i] = k;
    const j = pr() % nV6;
    p.v6.set(v6.subarray(j * 16, j * 16 + 16), i * 16);
    p.v6Ban[i] = nV4 + j;
    p.miss[i] = (pr() & 0x00ffffff) | 0xc8000000; // 200.x.x.x: no ban there
    p.service[i] = ids[pr() % ids.length];
    const s = (pr() % (nV4 / SCOPED_EVERY)) * SCOPED_EVERY;
    p.scoped[i] = v4[s];
    p.scopedService[i] = ids[scopeOf(s)];
  }

  // what each batch must answer (denials), from the bans themselves
  const denies = (ban: Uint32Array, named: boolean): number => {
    let d = 0;
    for (let i = 0; i < BATCH; i++) {
      const s = scopeOf(ban[i]);
      if (s < 0 || !named || ids[s] === p.service[i]) d++;
    }
    return d;
  };
  const expected: Record<string, number> = {
    'v4 hit, naming a service': denies(p.v4Ban, true),
    'v4 hit, naming none': BATCH,
    'v4 hit, before scoping': BATCH,
    'v6 hit, naming a service': denies(p.v6Ban, true),
    'v6 hit, naming none': BATCH,
    'v6 hit, before scoping': BATCH,
    'v4 miss, naming a service': 0,
    'v4 miss, naming none': 0,
    'v4 miss, before scoping': 0,
    'scoped ban, its own service': BATCH,
    'scoped ban, another service': 0,
    'scoped ban, naming none': BATCH,
  };
  const got: Record<string, number> = {};

  const out = new LookupResult();
  // one loop per family for every task, so each measures the data it is given and not how the
  // JIT happened to compile its own copy of the loop
  const loop4 = (t: BanTable, addrs: Int32Array, svc: Int32Array | null): number => {
    let d = 0;
    for (let i = 0; i < BATCH; i++) d += t.checkV4(addrs[i], NOW, out, svc === null ? SERVICE_ANY : svc[i]);
    return d;
  };
  const loop6 = (t: BanTable, svc: Int32Array | null): number => {
    let d = 0;
    for (let i = 0; i < BATCH; i++)
      d += t.checkV6(p.v6, i * 16, NOW, out, svc === null ? SERVICE_ANY : svc[i]);
    return d;
  };
  const other = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) other[i] = (p.scopedService[i] + 1) % ids.length;
  const tasks: [string, () => number][] = [
    ['v4 hit, naming a service', () => loop4(scoped, p.v4, p.service)],
    ['v4 hit, naming none', () => loop4(scoped, p.v4, null)],
    ['v4 hit, before scoping', () => loop4(flat, p.v4, null)],
    ['v6 hit, naming a service', () => loop6(scoped, p.service)],
    ['v6 hit, naming none', () => loop6(scoped, null)],
    ['v6 hit, before scoping', () => loop6(flat, null)],
    ['v4 miss, naming a service', () => loop4(scoped, p.miss, p.service)],
    ['v4 miss, naming none', () => loop4(scoped, p.miss, null)],
    ['v4 miss, before scoping', () => loop4(flat, p.miss, null)],
    ['scoped ban, its own service', () => loop4(scoped, p.scoped, p.scopedService)],
    ['scoped ban, another service', () => loop4(scoped, p.scoped, other)],
    ['scoped ban, naming none', () => loop4(scoped, p.scoped, null)],
  ];
  for (const [name, fn] of tasks) got[name] = fn();

  // the SPOP hot path: one NOTIFY of 1024 messages, with and without the service argument
  const spoa = (withService: boolean) => {
    const parts: number[] = [];
    for (let i = 0; i < BATCH; i++) {
      const a = p.v4[i];
      parts.push(
        0,
        withService ? 2 : 1,
        3,
        ...Buffer.from('src'),
        6,
        a >>> 24,
        (a >>> 16) & 255,
        (a >>> 8) & 255,
        a & 255,
      );
      if (withService) {
        const s = Buffer.from(SERVICES[p.service[i]]);
        parts.push(7, ...Buffer.from('service'), 8, s.length, ...s);
      }
    }
    const body = Buffer.from([3, 0, 0, 0, 1, 1, 1, ...parts]);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, 4);
    return frame;
  };
  const answerer = new NotifyAnswerer(
    scoped,
    { scope: 2, setReason: false, setTtl: false },
    () => '',
    scoped.services,
  );
  const flatAnswerer = new NotifyAnswerer(flat, { scope: 2, setReason: false, setTtl: false }, () => '');
  const maxFrame = 1 << 20;
  const withSvc = spoa(true);
  const without = spoa(false);
  const dst = Buffer.alloc(answerer.reserveFor(2, withSvc.length, maxFrame));
  const answer = (a: NotifyAnswerer, f: Buffer) => a.answer(f, 9, 11, f.length, dst, 0, NOW, maxFrame);
  // the ACK's verdict count: every allowed message before the first banned one writes a 0, then
  // only banned ones write; the answerer's counters say how many were denied
  const deniedBy = (a: NotifyAnswerer, f: Buffer) => {
    const before = a.counters.denied;
    if (answer(a, f) < 0) throw new Error('NOTIFY refused');
    return a.counters.denied - before;
  };
  got['SPOP NOTIFY, service argument'] = deniedBy(answerer, withSvc);
  got['SPOP NOTIFY, no service argument'] = deniedBy(answerer, without);
  got['SPOP NOTIFY, before scoping'] = deniedBy(flatAnswerer, without);
  expected['SPOP NOTIFY, service argument'] = expected['v4 hit, naming a service'];
  expected['SPOP NOTIFY, no service argument'] = BATCH;
  expected['SPOP NOTIFY, before scoping'] = BATCH;

  // Interleaved: every round times each task once, in a shuffled order, so all of them see the
  // same load on a shared machine and the comparisons hold even when the absolute figures move;
  // the figure is the median over the rounds.
  const spoaTasks: [string, () => number][] = [
    ['SPOP NOTIFY, service argument', () => answer(answerer, withSvc)],
    ['SPOP NOTIFY, no service argument', () => answer(answerer, without)],
    ['SPOP NOTIFY, before scoping', () => answer(flatAnswerer, without)],
  ];
  const timed = [...tasks, ...spoaTasks];
  const samples = timed.map(() => new Float64Array(ROUNDS));
  let sink = 0;
  const order = Int32Array.from(timed.keys());
  const shuffle = rng(11);
  for (let round = -WARMUP; round < ROUNDS; round++) {
    // a new order every round: a task right after one that read the same table and addresses
    // would find them in the cache, and always the same neighbour would skew its figure
    for (let j = order.length - 1; j > 0; j--) {
      const x = shuffle() % (j + 1);
      const tmp = order[j];
      order[j] = order[x];
      order[x] = tmp;
    }
    for (let j = 0; j < timed.length; j++) {
      const k = order[j];
      const fn = timed[k][1];
      // two batches to bring this task's slots into the cache, then the timed ones: the figure
      // is the lookup's own cost, as in the bantable benchmark, not the machine's memory latency
      sink += fn() + fn();
      const t0 = process.hrtime.bigint();
      for (let b = 0; b < TIMED_BATCHES; b++) sink += fn();
      const dt = Number(process.hrtime.bigint() - t0);
      if (round >= 0) samples[k][round] = dt / (BATCH * TIMED_BATCHES);
    }
  }
  if (sink === 42) console.log('');
  const ns = (name: string): number => {
    const i = timed.findIndex(([n]) => n === name);
    if (i < 0) return Number.NaN;
    const sorted = Float64Array.from(samples[i]).sort();
    return sorted[sorted.length >> 1];
  };

  // allocation check: GC events over lookups naming a service, and over the same lookups of the
  // table before scoping (the baseline: what the lookup itself costs there)
  const N = quick ? 1_000_000 : 5_000_000;
  const gcScoped = await gcDuring(() => {
    let acc = 0;
    for (let i = 0; i < N; i++) {
      const k = i & (BATCH - 1);
      acc += scoped.checkV4(p.v4[k], NOW, out, p.service[k]);
      acc += scoped.checkV6(p.v6, k * 16, NOW, out, p.service[k]);
    }
    for (let i = 0; i < N / BATCH; i++) acc += answer(answerer, withSvc) > 0 ? 1 : 0;
    return acc;
  });
  const gcFlat = await gcDuring(() => {
    let acc = 0;
    for (let i = 0; i < N; i++) {
      const k = i & (BATCH - 1);
      acc += flat.checkV4(p.v4[k], NOW, out);
      acc += flat.checkV6(p.v6, k * 16, NOW, out);
    }
    for (let i = 0; i < N / BATCH; i++) acc += answer(flatAnswerer, without) > 0 ? 1 : 0;
    return acc;
  });

  const rows: BenchRow[] = [];
  const row = (name: string, task: string, base: string | null, label: string): void => {
    const ok = got[task] === expected[task];
    const bv = base === null ? null : ns(base);
    rows.push({
      name: label,
      value: ns(task),
      unit: 'ns/op',
      stat: 'median',
      ...(bv === null ? {} : { baseline: { name: 'before scoping', value: bv } }),
      ...(base === null ? {} : { target: '≤ 1.2× before scoping' }),
      notes: name,
      verified: ok,
      verification: `${got[task]}/${BATCH} denied, ${expected[task]} expected`,
    });
  };
  const scopedCount = Math.floor(nV4 / SCOPED_EVERY) + Math.floor(nV6 / SCOPED_EVERY);
  row(
    `${got['v4 hit, naming a service']}/${BATCH} denied`,
    'v4 hit, naming a service',
    'v4 hit, before scoping',
    'lookup IPv4 hit, naming a service',
  );
  row('every ban counts', 'v4 hit, naming none', 'v4 hit, before scoping', 'lookup IPv4 hit, naming none');
  row(
    `${got['v6 hit, naming a service']}/${BATCH} denied`,
    'v6 hit, naming a service',
    'v6 hit, before scoping',
    'lookup IPv6 hit, naming a service',
  );
  row('every ban counts', 'v6 hit, naming none', 'v6 hit, before scoping', 'lookup IPv6 hit, naming none');
  row('no ban', 'v4 miss, naming a service', 'v4 miss, before scoping', 'lookup IPv4 miss, naming a service');
  row('no ban', 'v4 miss, naming none', 'v4 miss, before scoping', 'lookup IPv4 miss, naming none');
  row(
    'denied',
    'scoped ban, its own service',
    'v4 hit, before scoping',
    'lookup of a scoped ban, its own service',
  );
  row(
    'allowed',
    'scoped ban, another service',
    'v4 hit, before scoping',
    'lookup of a scoped ban, another service',
  );
  row(
    'denied: every ban counts',
    'scoped ban, naming none',
    'v4 hit, before scoping',
    'lookup of a scoped ban, naming none',
  );
  row(
    `per message, 1024 messages a NOTIFY, ${got['SPOP NOTIFY, service argument']} denied`,
    'SPOP NOTIFY, service argument',
    'SPOP NOTIFY, before scoping',
    'SPOP answer, message with a service argument',
  );
  row(
    'per message, 1024 messages a NOTIFY',
    'SPOP NOTIFY, no service argument',
    'SPOP NOTIFY, before scoping',
    'SPOP answer, message without one',
  );
  rows.push({
    name: `GC events during ${(N * 2).toLocaleString('en-US')} lookups naming a service and ${Math.floor(N / BATCH)} NOTIFYs`,
    value: gcScoped.gcs,
    unit: 'count',
    baseline: { name: 'before scoping', value: gcFlat.gcs },
    target: '0 allocations per lookup',
    notes: `heap grew ${gcScoped.heap} bytes; before scoping ${gcFlat.heap}`,
  });
  return {
    bench: 'scoped-lookup',
    rows,
    params: {
      bans: n,
      ipv6: nV6,
      scoped: scopedCount,
      services: SERVICES,
      batch: BATCH,
      quick,
    },
  };
}
