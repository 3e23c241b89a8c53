/**
 * Runs async jobs one after the other in the order they were asked for (writes, reloads, cache
 * saves): a job waits for the one before it, whether that one succeeded or failed.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Queues `job`; the returned promise settles as the job does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    const p = this.tail.then(job, job);
    this.tail = p.catch(() => {});
    return p;
  }

  /** Resolves once every job queued so far has settled (never rejects). */
  async idle(): Promise<void> {
    await this.tail;
  }
}
