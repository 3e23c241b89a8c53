import type { NotifyEvent } from './types.js';

/**
 * A bounded FIFO of events for one webhook. When the receiver is slower than the events (or
 * down), the oldest go first: memory stays bounded whatever an attack makes edgeban ban, and
 * what was dropped is counted.
 */
export class EventQueue {
  private readonly ring: (NotifyEvent | undefined)[];
  private head = 0;
  private count = 0;
  dropped = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(e: NotifyEvent): void {
    if (this.count === this.capacity) {
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.dropped++;
    }
    this.ring[(this.head + this.count) % this.capacity] = e;
    this.count++;
  }

  /** The first `n` events, left in the queue until `drop(n)`: a failed POST sends them again. */
  peek(n: number): NotifyEvent[] {
    const k = Math.min(n, this.count);
    const out: NotifyEvent[] = new Array(k);
    for (let i = 0; i < k; i++) out[i] = this.ring[(this.head + i) % this.capacity] as NotifyEvent;
    return out;
  }

  /** Removes the first `n` (fewer if the oldest were already dropped to make room). */
  drop(n: number): void {
    const k = Math.min(n, this.count);
    for (let i = 0; i < k; i++) this.ring[(this.head + i) % this.capacity] = undefined;
    this.head = (this.head + k) % this.capacity;
    this.count -= k;
  }
}
