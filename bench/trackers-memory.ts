/**
 * Memory per tracked address: RSS of a node process holding N failure trackers (one failure
 * each, distinct IPv4 addresses), measured after gc, for the engine's typed-array trackers and
 * for the Map<string, { times: number[] }> they replaced, each in its own child process.
 * Run: node --expose-gc dist/bench/trackers-memory.js [N]   (a measurement script, not a test)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/main/config/defaults.js';
import { BanEngine } from '../src/main/engine/index.js';
import { BanTable } from '../src/shared/bantable/index.js';
import { formatIp } from '../src/shared/ip/parse.js';

const T0 = Date.UTC(2026, 0, 1);

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

function child(mode: string, n: number): void {
  const addr = new Uint8Array(4);
  const put = (i: number) => {
    addr[0] = 11 + ((i >>> 24) & 0x3f);
    addr[1] = (i >>> 16) & 255;
    addr[2] = (i >>> 8) & 255;
    addr[3] = i & 255;
  };
  let keep: unknown;
  const before = rss();
  if (mode === 'typed') {
    const ban = { ...defaultConfig().ban, max_tracked: n };
    const engine = new BanEngine({ table: new BanTable(), ...BanEngine.configOptions(ban), nodeId: 'm' });
    for (let i = 0; i < n; i++) {
      put(i);
      engine.recordFailure(addr, 4, 'x', T0 + i);
    }
    if (engine.trackedCount !== n) throw new Error(`tracked ${engine.trackedCount}`);
    keep = engine;
  } else {
    const m = new Map<string, { times: number[] }>();
    for (let i = 0; i < n; i++) {
      put(i);
      m.set(formatIp(addr, 4), { times: [T0 + i] });
    }
    keep = m;
  }
  const after = rss();
  process.stdout.write(JSON.stringify({ mode, n, bytesPerAddress: (after - before) / n, kept: !!keep }));
}

const [, , a, b] = process.argv;
if (a === 'typed' || a === 'map') child(a, Number(b));
else {
  const n = Number(a ?? 1_000_000);
  const self = fileURLToPath(import.meta.url);
  for (const mode of ['typed', 'map']) {
    const out = execFileSync(process.execPath, ['--expose-gc', self, mode, String(n)], { encoding: 'utf8' });
    const r = JSON.parse(out) as { bytesPerAddress: number };
    console.log(
      `${mode.padEnd(6)} ${n} tracked addresses: ${r.bytesPerAddress.toFixed(1)} B each (RSS after gc)`,
    );
  }
}
