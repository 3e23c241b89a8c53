import { type FileHandle, open, stat } from 'node:fs/promises';
import { EdgebanError } from '../../shared/errors.js';
import type { LineBatcher } from '../syslog/batcher.js';
import type { PositionStore } from './positions.js';
import { FINGERPRINT_BYTES, READ_CHUNK, ROTATED_GRACE_MS } from './types.js';

/** Counters of one configured source (all the files its glob names). */
export class FileSourceCounters {
  lines = 0;
  truncated = 0;
  rotations = 0;
  truncations = 0;
  errors = 0;
}

export interface FollowerDeps {
  batcher: LineBatcher;
  /** Put before every line (`plain` files: a syslog header carrying the tag); null for none. */
  prefix: Buffer | null;
  /** Longest line handed on, prefix included; longer ones are cut (counted). */
  maxLen: number;
  counters: FileSourceCounters;
  positions: PositionStore;
  /** The matchers are behind: stop reading (the file keeps the lines) until there is room. */
  congested(): boolean;
  whenRoom(): Promise<void>;
  onError(path: string, err: Error): void;
}

/** An open file being read: the one at the path, or one renamed away and still drained. */
interface Open {
  fh: FileHandle;
  dev: number;
  ino: number;
  /** Next byte to read. */
  pos: number;
  head: string;
  /** Last time it grew (rotated files: closed ROTATED_GRACE_MS after). */
  grewAt: number;
  /** A partial line at the start of `buf`, waiting for its newline. */
  buf: Buffer;
  carry: number;
  /** The rest of an over-long line is being skipped (it was cut and handed on). */
  skipping: boolean;
}

/**
 * Follows one file path: reads it to its end, then again on every `poll` (fs.watch or the timer),
 * across rotation by rename (the renamed file is finished, then the new one read from its start)
 * and truncation or copytruncate (a smaller size, or other first bytes: read again from 0).
 * Partial last lines wait for their newline; the position handed to the store is the start of
 * the first line not yet handed on, so a restart neither re-reads nor skips.
 */
export class FileFollower {
  private cur: Open | null = null;
  private rotated: Open | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly cutAt: number;

  constructor(
    readonly path: string,
    /** `end`: a file there at the start and met for the first time is read from its end. */
    private fromEnd: boolean,
    private readonly d: FollowerDeps,
  ) {
    const pre = d.prefix?.length ?? 0;
    this.cutAt = Math.max(1, d.maxLen - pre);
  }

  /** Device and inode of the files open now (a glob must not follow them a second time). */
  holds(dev: number, ino: number): boolean {
    return (
      (this.cur !== null && this.cur.dev === dev && this.cur.ino === ino) ||
      (this.rotated !== null && this.rotated.dev === dev && this.rotated.ino === ino)
    );
  }

  /** Nothing renamed away is still being finished. */
  get idle(): boolean {
    return this.rotated === null;
  }

  /** Read what is new; calls while a read runs fold into one more round after it. */
  poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.round();
      } catch (err) {
        this.d.counters.errors++;
        this.d.onError(this.path, err as Error);
        this.save();
        await closeOpen(this.cur);
        this.cur = null;
      }
    } while (this.again && !this.closed);
  }

  private async round(): Promise<void> {
    const old = this.rotated;
    if (old !== null) {
      await this.drain(old);
      if (Date.now() - old.grewAt > ROTATED_GRACE_MS) {
        // no writer came back to it: a last line without a newline is complete
        this.flushCarry(old);
        this.save();
        await closeOpen(old);
        this.rotated = null;
      }
    }
    if (this.cur === null && !(await this.openCur(false))) return;
    for (;;) {
      const cur = this.cur as Open;
      await this.drain(cur);
      if (this.closed) return;
      // at the end: is the path still this file, and is the file still what was read?
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // renamed, not yet re-created
        throw err;
      }
      if (st.ino !== cur.ino || st.dev !== cur.dev) {
        // rotated by rename: the old file is finished first, late writes to it included
        this.d.counters.rotations++;
        if (this.rotated !== null) {
          this.flushCarry(this.rotated);
          await closeOpen(this.rotated);
        }
        this.rotated = cur;
        cur.grewAt = Date.now();
        this.cur = null;
        if (!(await this.openCur(true))) return;
        continue;
      }
      const size = (await cur.fh.stat()).size;
      const seen = 2 * Math.min(cur.pos, FINGERPRINT_BYTES);
      if (size < cur.pos || (await readHead(cur.fh, cur.pos)) !== cur.head.slice(0, seen)) {
        // truncated (copytruncate), or rewritten in place: whatever is there now is new
        this.d.counters.truncations++;
        cur.carry = 0;
        cur.skipping = false;
        cur.pos = 0;
        cur.head = '';
        this.save();
        continue;
      }
      if (size > cur.pos) continue; // grew while this ran
      return;
    }
  }

  /** Opens the file at the path; `fresh` (it replaced a rotated one) is read from its start. */
  private async openCur(fresh: boolean): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      // not there yet: when it appears, everything in it is new
      this.fromEnd = false;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new NotAFileError(this.path);
      const head = await readHead(fh, st.size);
      const p = this.d.positions;
      // a file renamed into this path (a glob's rotated name) keeps the position it had
      const known = p.get(st.dev, st.ino, this.path) ?? p.byInode(st.dev, st.ino);
      let pos = 0;
      if (known !== undefined && known.offset <= st.size && head.startsWith(known.head)) pos = known.offset;
      else if (!fresh && known === undefined && !p.knowsPath(this.path) && this.fromEnd) pos = st.size;
      this.cur = {
        fh,
        dev: st.dev,
        ino: st.ino,
        pos,
        head,
        grewAt: Date.now(),
        buf: Buffer.allocUnsafe(this.cutAt + READ_CHUNK),
        carry: 0,
        skipping: false,
      };
      p.forgetOthers(this.path, st.dev, st.ino);
      this.save();
      return true;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Reads `f` to its current end, handing complete lines on, pausing while the matchers are behind. */
  private async drain(f: Open): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (this.d.congested()) {
        await this.d.whenRoom();
        continue;
      }
      const { bytesRead } = await f.fh.read(f.buf, f.carry, READ_CHUNK, f.pos);
      if (bytesRead === 0) return;
      f.pos += bytesRead;
      f.grewAt = Date.now();
      if (f.head.length < 2 * FINGERPRINT_BYTES) f.head = await readHead(f.fh, f.pos);
      this.lines(f, f.carry + bytesRead);
      this.save();
    }
  }

  /** Splits `f.buf[0, end)` into lines; keeps a partial last one as the carry. */
  private lines(f: Open, end: number): void {
    const b = f.buf;
    let i = 0;
    if (f.skipping) {
      const nl = b.indexOf(10, 0);
      if (nl < 0 || nl >= end) {
        f.carry = 0;
        return;
      }
      f.skipping = false;
      i = nl + 1;
    }
    for (;;) {
      const j = b.indexOf(10, i);
      if (j < 0 || j >= end) break;
      this.emit(b, i, j);
      i = j + 1;
    }
    const rest = end - i;
    if (rest >= this.cutAt) {
      // longer than a line may be: its head goes on (cut, counted), the rest is skipped
      this.emit(b, i, end);
      f.skipping = true;
      f.carry = 0;
    } else {
      if (rest > 0 && i > 0) b.copy(b, 0, i, end);
      f.carry = rest;
    }
  }

  private emit(b: Buffer, i: number, j: number): void {
    let e = j;
    while (e > i && (b[e - 1] === 13 || b[e - 1] === 0)) e--;
    if (e === i) return;
    const c = this.d.counters;
    if (e - i > this.cutAt) {
      e = i + this.cutAt;
      c.truncated++;
    }
    c.lines++;
    if (this.d.prefix === null) this.d.batcher.add(b, i, e);
    else this.d.batcher.addPrefixed(this.d.prefix, b, i, e);
  }

  /** A file that is done ended without a newline: its last line is complete now. */
  private flushCarry(f: Open): void {
    if (f.carry > 0 && !f.skipping) this.emit(f.buf, 0, f.carry);
    f.carry = 0;
    f.skipping = false;
  }

  private save(): void {
    for (const f of [this.rotated, this.cur]) {
      if (f === null) continue;
      this.d.positions.set({
        path: this.path,
        dev: f.dev,
        ino: f.ino,
        offset: f.pos - f.carry,
        head: f.head,
      });
    }
  }

  /** Stops after the current read; the positions stay remembered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => {});
    this.save();
    await closeOpen(this.cur);
    await closeOpen(this.rotated);
    this.cur = null;
    this.rotated = null;
  }
}

async function closeOpen(f: Open | null): Promise<void> {
  if (f !== null) await f.fh.close().catch(() => {});
}

/** The file's first bytes (at most FINGERPRINT_BYTES of the first `size`), hex. */
async function readHead(fh: FileHandle, size: number): Promise<string> {
  const n = Math.min(size, FINGERPRINT_BYTES);
  if (n === 0) return '';
  const b = Buffer.allocUnsafe(n);
  const { bytesRead } = await fh.read(b, 0, n, 0);
  return b.toString('hex', 0, bytesRead);
}

/** A followed path names a folder, a device or a pipe: only regular files are read. */
export class NotAFileError extends EdgebanError {
  constructor(readonly path: string) {
    super('E_FILE_SOURCE', `not a regular file: ${path}`);
  }
}
