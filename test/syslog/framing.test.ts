import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineBatcher, splitLines } from '../../src/main/syslog/batcher.js';
import { SyslogFramer } from '../../src/main/syslog/framing.js';

/** Collects batches and normalises them the way the matcher worker does (CR, empty lines, length). */
function collector(maxLines = 1000, maxLen = Number.MAX_SAFE_INTEGER) {
  const lines: string[] = [];
  const state = { truncated: 0 };
  const b = new LineBatcher(maxLines, 0, (buf, count) => {
    const parts = Buffer.from(buf).toString('utf8').split('\n');
    assert.ok(parts.length >= count, `${parts.length} < ${count}`);
    for (let p of parts) {
      p = p.replace(/[\r\0]+$/, '');
      if (p === '') continue;
      if (p.length > maxLen) {
        p = p.slice(0, maxLen);
        state.truncated++;
      }
      lines.push(p);
    }
  });
  return { b, lines, state };
}

function frame(msg: string): string {
  return `${Buffer.byteLength(msg)} ${msg}`;
}

/** Feeds `data` to a framer in every possible 2-way split and in 1-byte pieces. */
function allSplits(data: Buffer, maxLen: number): { lines: string[]; truncated: number; ok: boolean }[] {
  const runs: { lines: string[]; truncated: number; ok: boolean }[] = [];
  const cuts: number[][] = [[data.length]];
  for (let i = 1; i < data.length; i++) cuts.push([i, data.length]);
  cuts.push(Array.from({ length: data.length }, (_, i) => i + 1));
  for (const c of cuts) {
    const { b, lines, state } = collector(1000, maxLen);
    const counters = { lines: 0, truncated: 0, framingErrors: 0 };
    const f = new SyslogFramer(maxLen, b, counters);
    let prev = 0;
    let ok = true;
    for (const at of c) {
      ok = f.push(data.subarray(prev, at)) && ok;
      prev = at;
    }
    f.end();
    b.flush();
    // empty lines inside a block are counted by the framer, dropped by the worker
    assert.ok(counters.lines >= lines.length);
    runs.push({ lines, truncated: counters.truncated + state.truncated, ok });
  }
  return runs;
}

describe('TCP framing (RFC 6587)', () => {
  test('octet counting, frames split across writes at every byte', () => {
    const msgs = [
      '<13>Nov 24 16:05:41 h t: one',
      '<13>1 2026-11-24T16:05:41Z h t - - - two with\nnewline',
      '<13>x: é',
    ];
    const data = Buffer.from(msgs.map(frame).join(''));
    for (const r of allSplits(data, 8192)) {
      assert.ok(r.ok);
      assert.deepEqual(r.lines, [
        '<13>Nov 24 16:05:41 h t: one',
        '<13>1 2026-11-24T16:05:41Z h t - - - two with',
        'newline',
        '<13>x: é',
      ]);
    }
  });

  test('LF framing, with CRLF and a final unterminated line, split everywhere', () => {
    const data = Buffer.from('<13>a: one\r\n<13>b: two\n\n<13>c: three');
    for (const r of allSplits(data, 8192)) {
      assert.deepEqual(r.lines, ['<13>a: one', '<13>b: two', '<13>c: three']);
      assert.equal(r.truncated, 0);
    }
  });

  test('over-long lines are cut to max length and counted, in both framings', () => {
    const long = `<13>t: ${'x'.repeat(50)}`;
    for (const r of allSplits(Buffer.from(`${long}\n<13>t: short\n`), 20)) {
      assert.deepEqual(r.lines, [long.slice(0, 20), '<13>t: short']);
      assert.equal(r.truncated, 1);
    }
    for (const r of allSplits(Buffer.from(frame(long) + frame('<13>t: short')), 20)) {
      assert.deepEqual(r.lines, [long.slice(0, 20), '<13>t: short']);
      assert.equal(r.truncated, 1);
    }
  });

  test('a broken octet count is a framing error', () => {
    const { b } = collector();
    const counters = { lines: 0, truncated: 0, framingErrors: 0 };
    const f = new SyslogFramer(100, b, counters);
    assert.equal(f.push(Buffer.from('12 <13>t: hello')), true);
    assert.equal(f.push(Buffer.from('x<13>')), false);
    assert.equal(counters.framingErrors, 1);
  });
});

describe('datagram splitting and batching', () => {
  test('several lines per datagram; empty lines skipped; over-long cut and counted', () => {
    const { b, lines } = collector();
    const r = splitLines(Buffer.from(`a: 1\n\nb: 2\r\n${'c'.repeat(30)}\n`), 0, 40, 10, b);
    b.flush();
    assert.equal(r.lines, 3);
    assert.equal(r.truncated, 1);
    assert.deepEqual(lines, ['a: 1', 'b: 2', 'c'.repeat(10)]);
  });

  test('batches flush by size and by time', async () => {
    const batches: number[] = [];
    const b = new LineBatcher(3, 20, (_buf, count) => batches.push(count));
    const one = Buffer.from('x');
    for (let i = 0; i < 7; i++) b.add(one, 0, 1);
    assert.deepEqual(batches, [3, 3]);
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(batches, [3, 3, 1]);
  });

  test('while the pool is idle a batch leaves at the end of the loop turn; when busy it waits', async () => {
    const batches: number[] = [];
    let idle = true;
    const b = new LineBatcher(100, 10_000, (_buf, count) => batches.push(count));
    b.setIdleCheck(() => idle);
    const one = Buffer.from('x');
    b.add(one, 0, 1);
    b.add(one, 0, 1);
    assert.deepEqual(batches, []);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [2]);
    idle = false;
    b.add(one, 0, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(batches, [2]); // waits for size, delay (10 s here) or the pool draining
    b.kick();
    assert.deepEqual(batches, [2, 1]);
  });

  test('each batch has its own ArrayBuffer (transferable)', () => {
    const bufs: Uint8Array[] = [];
    const b = new LineBatcher(2, 0, (buf) => bufs.push(buf));
    for (let i = 0; i < 4; i++) b.add(Buffer.from('line'), 0, 4);
    assert.equal(bufs.length, 2);
    assert.notEqual(bufs[0].buffer, bufs[1].buffer);
    assert.equal(Buffer.from(bufs[0]).toString(), 'line\nline');
  });
});
