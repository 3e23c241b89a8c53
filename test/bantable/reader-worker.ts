// Reader thread for the stress test: hammers lookups on a shared table and checks, for every
// entry it sees, the invariant the writer stores with each key (expiry and offences derived from
// the address). A torn read would break it.
import { parentPort, workerData } from 'node:worker_threads';
import { BanTableReader, Kind, LookupResult } from '../../src/shared/bantable/index.js';

const { handle, port, ms, keys } = workerData as {
  handle: Parameters<typeof BanTableReader.attach>[0];
  port: Parameters<typeof BanTableReader.attach>[1];
  ms: number;
  keys: number;
};
const reader = BanTableReader.attach(handle, port);
const out = new LookupResult();
const v6 = new Uint8Array(16);
v6.set([0x20, 0x01, 0x0d, 0xb8]);
let lookups = 0;
let torn = 0;
let seen = 0;
let maxGap = 0;
const end = Date.now() + ms;
let last = performance.now();
while (Date.now() < end) {
  for (let i = 0; i < keys; i++) {
    const addr = (0x0a000000 | i) >>> 0;
    reader.checkV4(addr, 1, out);
    if (out.kind === Kind.TEMP_BAN && out.prefixLen === 32) {
      seen++;
      if (out.expiresAt !== 100000 + i || out.offences !== i % 31) torn++;
    }
    v6[14] = i >> 8;
    v6[15] = i & 255;
    reader.checkV6(v6, 0, 1, out);
    if (out.kind === Kind.TEMP_BAN && out.prefixLen === 128) {
      seen++;
      if (out.expiresAt !== 200000 + i || out.offences !== i * 7) torn++;
    }
    lookups += 2;
  }
  const t = performance.now();
  if (t - last > maxGap) maxGap = t - last;
  last = t;
}
parentPort?.postMessage({ lookups, torn, seen, maxGap });
