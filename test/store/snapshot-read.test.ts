import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readSnapshotBytes, snapshotReadLimit } from '../../src/main/store/state-snapshot.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A start reads the state snapshot before anything listens: whatever sits at its path must not
 * hang that start (a FIFO, a device) or fill its memory (a file of any size).
 */
describe('reading the state snapshot at start', () => {
  let dir: string;
  before(() => {
    dir = tempDir('edgeban-snapread-');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a regular file within the limit is read whole, byte for byte', () => {
    const f = join(dir, 'ok.snapshot');
    const body = Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 31) & 0xff));
    writeFileSync(f, body);
    const got = readSnapshotBytes(f, body.length);
    assert.ok(Buffer.isBuffer(got));
    assert.ok(got.equals(body));
  });

  test('a file past the limit is refused unread, as a regular file', () => {
    const f = join(dir, 'big.snapshot');
    writeFileSync(f, Buffer.alloc(4097));
    const got = readSnapshotBytes(f, 4096);
    assert.ok(!Buffer.isBuffer(got));
    assert.equal(got.regular, true);
    assert.match(got.refused, /4097 bytes, past the 4096/);
  });

  test('a FIFO at the path is refused at once, not waited on', () => {
    const f = join(dir, 'fifo.snapshot');
    execFileSync('mkfifo', [f]);
    // no writer ever opens it: a blocking open or read would never return
    const got = readSnapshotBytes(f, 1 << 20);
    assert.ok(!Buffer.isBuffer(got));
    assert.deepEqual(got, { refused: 'not a regular file', regular: false });
  });

  test('a character device at the path is refused, not read', () => {
    const got = readSnapshotBytes('/dev/zero', 1 << 20);
    assert.ok(!Buffer.isBuffer(got));
    assert.equal(got.regular, false);
  });

  test('a symbolic link at the path is not followed', () => {
    const target = join(dir, 'target.snapshot');
    writeFileSync(target, Buffer.from('EBS1'));
    const link = join(dir, 'link.snapshot');
    symlinkSync(target, link);
    assert.throws(() => readSnapshotBytes(link, 1 << 20), { code: 'ELOOP' });
  });

  test('the limit is a quarter of the memory at most, and fits one Buffer', () => {
    const limit = snapshotReadLimit();
    assert.ok(limit > 64 * 1024 * 1024, `limit ${limit}`);
    assert.ok(limit <= 2 ** 31 - 1);
  });
});
