/**
 * Retry delays that double per failed attempt up to a cap: the store's reconnect and the fleet's
 * listening connection both wait this way, so a database that is down is not hammered.
 */

/** Delay before retry number `attempt` (0 = the first retry): `first`, doubling, at most `cap`. */
export function backoffDelay(attempt: number, first: number, cap: number): number {
  // the exponent is bounded so a long outage never overflows to Infinity * 0 = NaN
  return Math.min(cap, first * 2 ** Math.min(30, Math.max(0, attempt)));
}

/** The same sequence with its own attempt count: `next()` per failure, `reset()` on success. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly first: number,
    private readonly cap: number,
  ) {}

  /** The delay to wait now; the one after it is twice as long (up to the cap). */
  next(): number {
    return backoffDelay(this.attempt++, this.first, this.cap);
  }

  reset(): void {
    this.attempt = 0;
  }
}
