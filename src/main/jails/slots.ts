/**
 * A bounded key → slot index map for per-target state kept in typed arrays: at most `capacity`
 * keys, the least recently touched one evicted in O(1) when a new key needs a slot. Recency is a
 * doubly linked list over the slots in typed arrays (a Map's own order would do, but finding its
 * first key walks the holes its deletions leave: O(capacity) per eviction).
 */
export class SlotMap<K> {
  private readonly index = new Map<K, number>();
  private readonly keys: (K | undefined)[];
  private readonly prev: Int32Array;
  private readonly nextOf: Int32Array;
  /** Most and least recently used slots; -1 when empty. */
  private head = -1;
  private tail = -1;
  private readonly free: number[] = [];
  private used = 0;
  /** Keys dropped to make room since creation. */
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`bad slot capacity ${capacity}`);
    this.keys = new Array<K | undefined>(capacity);
    this.prev = new Int32Array(capacity);
    this.nextOf = new Int32Array(capacity);
  }

  get size(): number {
    return this.index.size;
  }

  /** The slot of `key`, marked most recently used; -1 when absent. */
  touch(key: K): number {
    const s = this.index.get(key);
    if (s === undefined) return -1;
    if (s !== this.head) {
      this.unlink(s);
      this.pushFront(s);
    }
    return s;
  }

  /**
   * A slot for a key that has none. When full, the least recently used key gives up its slot;
   * the caller overwrites whatever the slot held.
   */
  add(key: K): number {
    let s: number;
    if (this.free.length > 0) s = this.free.pop() as number;
    else if (this.used < this.capacity) s = this.used++;
    else {
      s = this.tail;
      this.unlink(s);
      this.index.delete(this.keys[s] as K);
      this.evictions++;
    }
    this.keys[s] = key;
    this.index.set(key, s);
    this.pushFront(s);
    return s;
  }

  delete(key: K): void {
    const s = this.index.get(key);
    if (s === undefined) return;
    this.index.delete(key);
    this.unlink(s);
    this.keys[s] = undefined;
    this.free.push(s);
  }

  private unlink(s: number): void {
    const p = this.prev[s];
    const n = this.nextOf[s];
    if (p >= 0) this.nextOf[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private pushFront(s: number): void {
    this.prev[s] = -1;
    this.nextOf[s] = this.head;
    if (this.head >= 0) this.prev[this.head] = s;
    this.head = s;
    if (this.tail < 0) this.tail = s;
  }
}
