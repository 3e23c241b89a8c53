import type { Logger } from '../log/logger.js';
import { asError } from '../log/logger.js';
import { purgeHistory } from './history.js';
import type { Link } from './link.js';

export interface HistoryPurgeOptions {
  link: Link;
  log: Logger;
  /** Rows ended longer ago go; 0 = every row (no history is kept). */
  retentionMs: number;
  intervalMs: number;
  /** Most rows one run deletes: a long backlog goes over several runs, never in one statement. */
  batch: number;
}

/** Short pause between runs while a backlog lasts: the database serves the other writes between. */
const BACKLOG_PAUSE_MS = 1_000;

/** The retention of `ban_history`: bounded deletes on a timer, one run at a time. */
export class HistoryPurge {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private halted = false;

  constructor(private readonly o: HistoryPurgeOptions) {}

  start(): void {
    this.halted = false;
    this.schedule(this.o.intervalMs);
  }

  halt(): void {
    this.halted = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Resolves once a run under way is over (the store closes the connection after it). */
  async idle(): Promise<void> {
    await this.running;
  }

  /** One bounded delete now (skipped while the database is away); resolves with the rows deleted. */
  runOnce(nowMs: number): Promise<number> {
    if (this.running) return this.running;
    this.running = this.delete(nowMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.halted) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runOnce(Date.now()).then(
        (n) => this.schedule(n >= this.o.batch ? BACKLOG_PAUSE_MS : this.o.intervalMs),
        () => this.schedule(this.o.intervalMs),
      );
    }, ms);
    this.timer.unref();
  }

  private async delete(nowMs: number): Promise<number> {
    const link = this.o.link;
    const conn = link.current;
    if (!conn || !link.isConnected) return 0;
    try {
      const n = await purgeHistory(conn.db, link.dialect, nowMs - this.o.retentionMs, this.o.batch);
      link.op('history_purge', 'success', n);
      return n;
    } catch (err) {
      link.op('history_purge', 'failure');
      this.o.log.warn({ err: asError(err) }, 'ban history purge failed; retrying on the next run');
      return 0;
    }
  }
}
