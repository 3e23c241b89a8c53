import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What is remembered of one followed file. */
export interface Position {
  path: string;
  dev: number;
  ino: number;
  /** Bytes already handed to the matchers (the start of the next unread line). */
  offset: number;
  /** The file's first bytes (hex) when they were read: a new file on a reused inode differs. */
  head: string;
}

/** Entries kept at most (files come and go under globs; the oldest are forgotten first). */
const MAX_ENTRIES = 4096;

/**
 * Read positions across restarts, in one small JSON file written atomically (temp file, then
 * rename), at most every `everyMs`. Keyed by device, inode and path, so a renamed file and a
 * new file at the old path are told apart.
 */
export class PositionStore {
  private readonly entries = new Map<string, Position>();
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly file: string,
    private readonly everyMs: number,
    private readonly onError: (err: Error) => void,
  ) {
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as { positions?: unknown };
      if (Array.isArray(raw.positions))
        for (const p of raw.positions) if (isPosition(p)) this.entries.set(key(p.dev, p.ino, p.path), p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError(err as Error);
    }
  }

  get(dev: number, ino: number, path: string): Position | undefined {
    return this.entries.get(key(dev, ino, path));
  }

  /** A position of this device and inode under any path (a file renamed since). */
  byInode(dev: number, ino: number): Position | undefined {
    for (const p of this.entries.values()) if (p.dev === dev && p.ino === ino) return p;
    return undefined;
  }

  /** True when a position is remembered for `path` under another inode (replaced while down). */
  knowsPath(path: string): boolean {
    for (const p of this.entries.values()) if (p.path === path) return true;
    return false;
  }

  set(p: Position): void {
    const k = key(p.dev, p.ino, p.path);
    const old = this.entries.get(k);
    if (old && old.offset === p.offset && old.head === p.head) return;
    this.entries.delete(k);
    this.entries.set(k, p);
    while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.dirty = true;
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.save();
      }, this.everyMs);
      this.timer.unref();
    }
  }

  /** Drops the entries of one path under other inodes (it was rotated: they are done). */
  forgetOthers(path: string, dev: number, ino: number): void {
    for (const [k, p] of this.entries)
      if (p.path === path && (p.dev !== dev || p.ino !== ino)) {
        this.entries.delete(k);
        this.dirty = true;
      }
  }

  /** Writes now if anything changed. */
  save(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(tmp, JSON.stringify({ version: 1, positions: [...this.entries.values()] }));
      renameSync(tmp, this.file);
    } catch (err) {
      this.dirty = true;
      this.onError(err as Error);
    }
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.save();
  }
}

function key(dev: number, ino: number, path: string): string {
  return `${dev}:${ino}:${path}`;
}

function isPosition(p: unknown): p is Position {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  return (
    typeof o.path === 'string' &&
    typeof o.dev === 'number' &&
    typeof o.ino === 'number' &&
    typeof o.offset === 'number' &&
    o.offset >= 0 &&
    typeof o.head === 'string'
  );
}
