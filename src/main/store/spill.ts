/**
 * The journal on disk while the database is away: a kill -9 (or a crash, or a stop) during an
 * outage must not lose the bans made meanwhile. Events go to a JSON-lines file in the working
 * folder, appended in small batches (at most SPILL_DELAY_MS after the event) and synced; when the
 * file grows past MAX_BYTES it is rewritten from the coalesced journal. The next start reads it
 * back (a torn last line is expected after a kill and skipped) and the file goes away once the
 * database has every change.
 */
import { constants } from 'node:fs';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { BanEvent } from '../engine/types.js';
import { asError, type Logger } from '../log/logger.js';

/** Longest an event waits in memory before it is on disk. */
const SPILL_DELAY_MS = 100;
/** Beyond this the file is rewritten from the journal (which keeps one change per key). */
const MAX_BYTES = 64 * 1024 * 1024;

export class JournalSpill {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private bytes = 0;
  /** The file holds changes the database has not got (appends go to it). */
  active = false;

  constructor(
    readonly file: string,
    private readonly log: Logger,
    /** The journal's current changes, one per key (for a rewrite). */
    private readonly snapshot: () => BanEvent[],
  ) {}

  /** What a previous run left: its changes, in order. */
  async recover(): Promise<BanEvent[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.error({ err: asError(err), file: this.file }, 'journal file unreadable');
      return [];
    }
    const out: BanEvent[] = [];
    let bad = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const e = JSON.parse(line) as BanEvent;
        if (typeof e === 'object' && e !== null && typeof e.type === 'string') out.push(e);
        else bad++;
      } catch {
        bad++;
      }
    }
    if (bad > 0) this.log.warn({ file: this.file, skipped: bad }, 'journal file: unreadable lines skipped');
    this.active = out.length > 0;
    this.bytes = text.length;
    return out;
  }

  /** The database went away: the whole journal to disk, then every new change after it. */
  begin(): void {
    this.active = true;
    this.rewrite();
  }

  append(e: BanEvent): void {
    if (!this.active) return;
    this.buffer.push(JSON.stringify(e));
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.drain();
      }, SPILL_DELAY_MS);
      this.timer.unref();
    }
  }

  /** The database has every change: the file goes. */
  clear(): void {
    this.active = false;
    this.buffer = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.chain = this.chain.then(async () => {
      this.bytes = 0;
      await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.log.warn({ err, file: this.file }, 'journal file not removed');
      });
    });
  }

  /** Everything buffered on disk (stop). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.drain();
    await this.chain;
  }

  private rewrite(): void {
    this.buffer = [];
    const events = this.snapshot();
    this.chain = this.chain.then(async () => {
      const body = events.map((e) => `${JSON.stringify(e)}\n`).join('');
      const tmp = `${this.file}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, body, { mode: 0o600, flush: true });
        await rename(tmp, this.file);
        this.bytes = body.length;
      } catch (err) {
        this.log.error({ err: asError(err), file: this.file }, 'journal file not written');
      }
    });
  }

  private drain(): void {
    if (this.buffer.length === 0) return;
    if (this.bytes > MAX_BYTES) {
      this.rewrite();
      return;
    }
    const body = `${this.buffer.join('\n')}\n`;
    this.buffer = [];
    this.chain = this.chain.then(async () => {
      try {
        const fh = await open(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
        try {
          await fh.write(body);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        this.bytes += body.length;
      } catch (err) {
        this.log.error({ err: asError(err), file: this.file }, 'journal file not written');
      }
    });
  }
}
