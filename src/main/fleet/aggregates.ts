/**
 * The failures one node counted in one interval, summed per (jail, target): an open-addressing
 * hash table over typed arrays with a fixed number of entries, filled from the engine's failure
 * listener without allocating. A new pair past `capacity` is refused (the caller counts it
 * dropped); failures of a pair already in the table still add up.
 */
export class FailureAggregates {
  readonly capacity: number;
  private readonly mask: number;
  /** Hash slot → entry index + 1; 0 = empty. */
  private readonly table: Int32Array;
  readonly bytes: Uint8Array;
  readonly family: Uint8Array;
  readonly prefixLen: Uint8Array;
  readonly jail: Uint16Array;
  readonly weight: Float64Array;
  /** Time of the last failure summed in (unix ms). */
  readonly last: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    let n = 16;
    while (n < capacity * 2) n <<= 1;
    this.mask = n - 1;
    this.table = new Int32Array(n);
    this.bytes = new Uint8Array(capacity * 16);
    this.family = new Uint8Array(capacity);
    this.prefixLen = new Uint8Array(capacity);
    this.jail = new Uint16Array(capacity);
    this.weight = new Float64Array(capacity);
    this.last = new Float64Array(capacity);
  }

  /** Adds `weight` failures of (jail, target); false when the pair is new and the table is full. */
  add(
    jail: number,
    target: Uint8Array,
    family: 4 | 6,
    prefixLen: number,
    weight: number,
    timeMs: number,
  ): boolean {
    const len = family === 4 ? 4 : 16;
    // FNV-1a over the jail, the prefix length and the address bytes
    let h = (0x811c9dc5 ^ jail) >>> 0;
    h = Math.imul(h, 0x01000193) ^ prefixLen;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ target[i], 0x01000193);
    let slot = (h >>> 0) & this.mask;
    for (;;) {
      const e = this.table[slot] - 1;
      if (e < 0) break;
      if (this.same(e, jail, target, len, family, prefixLen)) {
        this.weight[e] += weight;
        if (timeMs > this.last[e]) this.last[e] = timeMs;
        return true;
      }
      slot = (slot + 1) & this.mask;
    }
    if (this.size >= this.capacity) return false;
    const e = this.size++;
    this.table[slot] = e + 1;
    const off = e * 16;
    for (let i = 0; i < len; i++) this.bytes[off + i] = target[i];
    this.family[e] = family;
    this.prefixLen[e] = prefixLen;
    this.jail[e] = jail;
    this.weight[e] = weight;
    this.last[e] = timeMs;
    return true;
  }

  clear(): void {
    if (this.size === 0) return;
    this.table.fill(0);
    this.size = 0;
  }

  private same(
    e: number,
    jail: number,
    target: Uint8Array,
    len: number,
    family: number,
    plen: number,
  ): boolean {
    if (this.jail[e] !== jail || this.family[e] !== family || this.prefixLen[e] !== plen) return false;
    const off = e * 16;
    for (let i = 0; i < len; i++) if (this.bytes[off + i] !== target[i]) return false;
    return true;
  }
}
