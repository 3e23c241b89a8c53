/**
 * Failed API logins per TCP peer. After `freeFailures` failures within `windowMs` a peer is
 * refused (429) for a delay that doubles with each further failure, up to `maxDelayMs`: password
 * guessing gets slower and slower, whatever the rate limiter's exemptions. Memory is bounded by
 * `maxPeers` (the least recently failing peer is forgotten first).
 */

interface Entry {
  failures: number;
  firstAt: number;
  blockedUntil: number;
}

export interface AuthBackoffOptions {
  freeFailures?: number;
  windowMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxPeers?: number;
  now?: () => number;
}

export class AuthBackoff {
  private readonly peers = new Map<string, Entry>();
  private readonly freeFailures: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxPeers: number;
  private readonly now: () => number;

  constructor(opts: AuthBackoffOptions = {}) {
    this.freeFailures = opts.freeFailures ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 15 * 60_000;
    this.maxPeers = opts.maxPeers ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds the peer must still wait, 0 when it may try. */
  blockedFor(peer: string): number {
    const e = this.peers.get(peer);
    if (e === undefined) return 0;
    const left = e.blockedUntil - this.now();
    return Math.max(left, 0);
  }

  /** Records a failure; returns the delay now imposed (0 while the peer has free failures left). */
  fail(peer: string): number {
    const now = this.now();
    let e = this.peers.get(peer);
    if (e !== undefined) this.peers.delete(peer);
    // a quiet window forgets the failures (but never shortens a running block)
    if (e === undefined || (now - e.firstAt > this.windowMs && now >= e.blockedUntil))
      e = { failures: 0, firstAt: now, blockedUntil: 0 };
    e.failures++;
    if (e.failures > this.freeFailures) {
      const steps = Math.min(e.failures - this.freeFailures - 1, 30);
      const delay = Math.min(this.baseDelayMs * 2 ** steps, this.maxDelayMs);
      e.blockedUntil = now + delay;
      e.firstAt = now;
    }
    this.peers.set(peer, e);
    if (this.peers.size > this.maxPeers) {
      const oldest = this.peers.keys().next().value;
      if (oldest !== undefined) this.peers.delete(oldest);
    }
    return e.blockedUntil > now ? e.blockedUntil - now : 0;
  }

  /** A successful login clears the peer's record. */
  succeed(peer: string): void {
    if (this.peers.size > 0) this.peers.delete(peer);
  }

  get size(): number {
    return this.peers.size;
  }
}
