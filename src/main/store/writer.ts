import type { BanEvent } from '../engine/types.js';
import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { describeBatch, type ListVariants, splitBatch, writeBatch } from './batch-write.js';
import { type HistoryInsert, HistoryQueue, insertHistory } from './history.js';
import { batchSize, WriteJournal } from './journal.js';
import type { Link } from './link.js';
import { Serial } from './serial.js';
import { JournalSpill } from './spill.js';

/** A batch this big is written at once instead of waiting for the flush tick. */
const EAGER_BATCH = 20_000;

export interface WriterOptions {
  link: Link;
  log: Logger;
  flushIntervalMs: number;
  /** Most changes kept while the database is down. */
  journalMax: number;
  /** Where the journal goes on disk while the database is down (null: memory only). */
  journalFile: string | null;
  variants: ListVariants;
  /** Most ended bans kept for the history while the database is down (0: no history). */
  historyMax: number;
}

/**
 * Write-behind: engine events go to the journal (the latest change per target), which is written
 * in batches every flush interval (or at once when large); while the database is down it grows
 * (bounded) and is mirrored on disk, and a refused batch is retried change by change.
 */
export class Writer {
  readonly journal: WriteJournal;
  readonly history: HistoryQueue;
  private readonly spill: JournalSpill | null;
  private readonly link: Link;
  private readonly log: Logger;
  /** Changes a previous run journaled to disk and never wrote (for the engine, once). */
  private recovered: BanEvent[] = [];
  /** `seq` of the last change the journal file holds: a write covering it makes the file moot. */
  private spilledUpTo = 0;
  private seq = 0;
  private written = 0;
  /** Changes in the write under way (taken from the journal, not yet committed). */
  private inflight = 0;
  private readonly writes = new Serial();
  private eagerQueued = false;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: WriterOptions) {
    this.link = opts.link;
    this.log = opts.log;
    this.journal = new WriteJournal(opts.journalMax);
    this.history = new HistoryQueue(opts.historyMax);
    this.spill = opts.journalFile
      ? new JournalSpill(opts.journalFile, opts.log, () => this.journal.events())
      : null;
  }

  /** Changes not yet in the database: the journal and the write under way. */
  get pending(): number {
    // ended bans waiting for the history are not state: they are not counted here
    return this.journal.size + this.inflight;
  }

  /** Changes the last run journaled to disk during an outage and never wrote; handed out once. */
  takeRecovered(): BanEvent[] {
    const r = this.recovered;
    this.recovered = [];
    return r;
  }

  /** Takes back what a previous run left on disk, then writes every flush interval. */
  async start(): Promise<void> {
    if (this.spill) {
      // a previous run stopped (or died) during an outage: its changes go out first
      this.recovered = await this.spill.recover();
      for (const e of this.recovered) {
        this.seq++;
        this.journal.add(e);
      }
      this.spilledUpTo = this.seq;
      if (this.recovered.length > 0)
        this.log.warn(
          { changes: this.recovered.length, file: this.spill.file },
          'changes journaled during an outage by the last run: restored, written once the database answers',
        );
    }
    this.flushTimer = setInterval(() => this.tick(), this.opts.flushIntervalMs);
    this.flushTimer.unref();
  }

  /** Stops the timer; the last write and the disk copy are `finish`'s. */
  halt(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
  }

  /** At stop: what is pending is written while the database answers (`close` handles the rest). */
  async finish(): Promise<void> {
    if (this.link.isConnected) await this.write().catch(() => false);
  }

  /** At stop, after the last reads: the disk copy closed, or the loss logged. */
  async close(): Promise<void> {
    if (this.history.size > 0)
      this.log.warn(
        { ended_bans: this.history.size },
        'stopping with ended bans the history never received (the database is unavailable): not kept',
      );
    if (this.journal.size > 0 && this.spill?.active) {
      await this.spill.close();
      this.log.warn(
        { pending: this.journal.size, file: this.spill.file },
        'stopping with changes the database never received (it is unavailable): kept on disk for the next start',
      );
    } else if (this.journal.size > 0)
      this.log.error(
        { pending: this.journal.size },
        'stopping with changes the database never received (it is unavailable): they are lost',
      );
  }

  /** The database went away: the whole journal to the file from now on. */
  down(): void {
    if (this.spill && !this.spill.active) this.spillAll();
  }

  /** The database is back: what waited goes out. */
  up(): void {
    if (this.journal.size > 0 || this.history.size > 0) this.write().catch(() => {});
  }

  /** The whole journal to the file (the outage starts, or a failed batch came back). */
  private spillAll(): void {
    this.spill?.begin();
    this.spilledUpTo = this.seq;
  }

  enqueue(e: BanEvent): void {
    this.seq++;
    this.journal.add(e);
    const connected = this.link.isConnected;
    if (!connected && this.spill?.active) {
      this.spill.append(e);
      this.spilledUpTo = this.seq;
    }
    if (this.journal.size >= EAGER_BATCH && connected && !this.eagerQueued) {
      this.eagerQueued = true;
      setImmediate(() => {
        this.eagerQueued = false;
        this.write().catch(() => {});
      });
    }
  }

  /** An ended ban for `ban_history`, written with the next batch. */
  enqueueHistory(row: HistoryInsert): void {
    if (this.history.max <= 0) return;
    this.seq++;
    this.history.add(row);
  }

  async flush(): Promise<{ durable: boolean }> {
    const target = this.seq;
    if (this.written >= target) return { durable: true };
    if (!this.link.isConnected) return { durable: false };
    await this.write();
    return { durable: this.written >= target };
  }

  private tick(): void {
    this.link.gauge();
    if (this.link.isConnected && (this.journal.size > 0 || this.history.size > 0))
      this.write().catch(() => {});
  }

  /** Writes everything pending now; serialised, so a flush waits for the write before it. */
  write(): Promise<boolean> {
    return this.writes.run(() => this.writeOnce());
  }

  private async writeOnce(): Promise<boolean> {
    const link = this.link;
    const conn = link.current;
    if (!conn || !link.isConnected) return false;
    const upTo = this.seq;
    if (this.journal.size === 0 && this.history.size === 0) {
      this.written = upTo;
      return true;
    }
    const batch = this.journal.take();
    const ended = this.history.take();
    const n = batchSize(batch) + ended.length;
    this.inflight = batchSize(batch);
    try {
      await writeBatch(conn.db, link.dialect, batch, Date.now(), this.opts.variants, ended);
      this.written = upTo;
      link.op('write', 'success', n);
      // the database has every change the disk copy held (later ones are in memory, as usual)
      if (this.spill?.active && upTo >= this.spilledUpTo) this.spill.clear();
      return true;
    } catch (err) {
      this.journal.putBack(batch);
      this.history.putBack(ended);
      // a batch taken before the outage was noticed goes to the disk copy too
      if (this.spill?.active) this.spillAll();
      this.inflight = 0;
      if (await link.alive(conn)) {
        // the database answers: some row is bad. Write one at a time and drop what it refuses.
        this.log.error(
          { err: asError(err), changes: n },
          'database refused a batch of changes: writing them one by one',
        );
        const again = this.journal.take();
        const endedAgain = this.history.take();
        let dropped = 0;
        for (const row of endedAgain) {
          try {
            await insertHistory(conn.db, [row]);
          } catch (e) {
            dropped++;
            this.log.error(
              { err: asError(e), change: `history ${row.ip_address}` },
              'database refused a change: dropped',
            );
          }
        }
        for (const single of splitBatch(again)) {
          try {
            await writeBatch(conn.db, link.dialect, single, Date.now(), this.opts.variants);
          } catch (e) {
            dropped++;
            this.log.error(
              { err: asError(e), change: describeBatch(single) },
              'database refused a change: dropped',
            );
          }
        }
        link.op('write', 'failure', dropped);
        this.written = upTo;
        return dropped === 0;
      }
      link.op('write', 'failure', n);
      link.fail(err, conn);
      return false;
    } finally {
      this.inflight = 0;
    }
  }
}
