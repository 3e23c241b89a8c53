import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BanTable, Kind } from '../../src/shared/bantable/index.js';

interface ReaderReport {
  lookups: number;
  torn: number;
  seen: number;
  maxGap: number;
}

test('reader threads never see a torn entry while the writer inserts, deletes, grows and swaps generations', async () => {
  const keys = 4096;
  const table = new BanTable({ initialCapacity: 16 });
  const readers: Promise<ReaderReport>[] = [];
  for (let r = 0; r < 2; r++) {
    const { handle, port } = table.attachReader();
    const w = new Worker(new URL('./reader-worker.js', import.meta.url), {
      workerData: { handle, port, ms: 1500, keys },
      transferList: [port],
    });
    readers.push(
      new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
    );
  }
  const v4 = new Uint8Array(4);
  const v6 = new Uint8Array(16);
  v6.set([0x20, 0x01, 0x0d, 0xb8]);
  const startGen = table.stats().generation;
  const end = Date.now() + 1500;
  let round = 0;
  while (Date.now() < end) {
    round++;
    for (let i = 0; i < keys; i++) {
      v4[0] = 10;
      v4[1] = 0;
      v4[2] = i >> 8;
      v4[3] = i & 255;
      v6[14] = i >> 8;
      v6[15] = i & 255;
      if ((i + round) % 3 === 0) {
        table.delete(v4, 4, 32, Kind.TEMP_BAN);
        table.delete(v6, 6, 128, Kind.TEMP_BAN);
      } else {
        table.set(v4, 4, 32, Kind.TEMP_BAN, 100000 + i, i % 31, 0);
        table.set(v6, 6, 128, Kind.TEMP_BAN, 200000 + i, i * 7, 0);
      }
    }
    // ranges come and go too, and sweeps compact (new generations)
    table.set(new Uint8Array([10, 0, round & 15, 0]), 4, 24, Kind.BLACKLIST, 0, 0, 0);
    if (round % 4 === 0) table.sweep(0);
    await new Promise((r) => setImmediate(r));
  }
  const reports = await Promise.all(readers);
  assert.ok(
    table.stats().generation > startGen + 3,
    `generations swapped: ${table.stats().generation - startGen}`,
  );
  for (const rep of reports) {
    assert.equal(rep.torn, 0, `torn reads: ${JSON.stringify(rep)}`);
    assert.ok(rep.seen > 0, 'readers saw live entries');
    assert.ok(rep.lookups > 10_000, 'readers made progress');
  }
});
