import { randomBytes } from 'node:crypto';

/** Lines the explain view shows per (jail, target). */
export const LINES_PER_TARGET = 5;
/** Lines kept over every (jail, target). */
export const LINES_TOTAL = 10_000;
/** Characters kept of each line. */
export const LINE_CHARS = 200;

/** Hash buckets (a power of two): chains stay a slot or two long however the ring is filled. */
const BUCKETS = 1 << 15;
/** Slots one lookup walks at most: a chain lengthened by colliding keys costs no more. */
const MAX_WALK = 64;
/** Jail ids beyond it share the last one (their lines still show, merged). */
const MAX_JAIL_IDS = 0xfffe;
/** The jail id of a cleared slot. */
const CLEARED = 0xffff;

/**
 * The last log lines that counted, for the explain view: one ring of LINES_TOTAL slots over every
 * (jail, target), the oldest overwritten first, found again through seeded hash chains. Adding a
 * line costs a hash and a few typed-array writes: no string, Map entry or array per line, so a
 * flood of distinct addresses costs what one address does. A target's lines stay while the ring
 * holds them: under a flood, only the last LINES_TOTAL lines overall.
 */
export class RecentLines {
  private readonly perTarget: number;
  private readonly cap: number;
  private readonly lines: (string | undefined)[];
  /** Per slot: family (4 or 6) then 16 address bytes. */
  private readonly keys: Uint8Array;
  private readonly jailOf: Uint16Array;
  /** Per slot: the sequence number it was written with (0: never). */
  private readonly seqOf: Float64Array;
  /** Per slot: the sequence number of the next older slot of its bucket (0: none). */
  private readonly next: Float64Array;
  /** Per bucket: the sequence number of its newest slot (0: none). */
  private readonly head: Float64Array;
  private readonly jailIds = new Map<string, number>();
  private readonly seed: number;
  private seq = 0;
  private live = 0;

  constructor(perTarget = LINES_PER_TARGET, max = LINES_TOTAL) {
    this.perTarget = perTarget;
    this.cap = Math.max(1, max);
    this.lines = new Array(this.cap);
    this.keys = new Uint8Array(this.cap * 17);
    this.jailOf = new Uint16Array(this.cap);
    this.seqOf = new Float64Array(this.cap);
    this.next = new Float64Array(this.cap);
    this.head = new Float64Array(BUCKETS);
    this.seed = randomBytes(4).readUInt32LE(0);
  }

  /** Lines held (cleared ones excepted). */
  get size(): number {
    return this.live;
  }

  add(jail: string, target: Uint8Array, family: 4 | 6, line: string): void {
    const j = this.idOf(jail);
    const seq = ++this.seq;
    const slot = seq % this.cap;
    if (this.seqOf[slot] !== 0 && this.jailOf[slot] !== CLEARED) this.live--;
    const k = slot * 17;
    const n = family === 4 ? 4 : 16;
    this.keys[k] = family;
    for (let i = 0; i < 16; i++) this.keys[k + 1 + i] = i < n ? target[i] : 0;
    this.jailOf[slot] = j;
    this.lines[slot] = line.length > LINE_CHARS ? line.slice(0, LINE_CHARS) : line;
    const b = this.bucket(j, target, family);
    this.seqOf[slot] = seq;
    this.next[slot] = this.head[b];
    this.head[b] = seq;
    this.live++;
  }

  /** The target's last lines in `jail`, oldest first. */
  get(jail: string, target: Uint8Array, family: 4 | 6): string[] {
    const j = this.jailIds.get(jail);
    if (j === undefined) return [];
    const out: string[] = [];
    this.walk(j, target, family, (slot) => {
      out.push(this.lines[slot] ?? '');
      return out.length < this.perTarget;
    });
    return out.reverse();
  }

  /** Forget the target's lines in `jail` (its count was reset: the address logged in). */
  clear(jail: string, target: Uint8Array, family: 4 | 6): void {
    const j = this.jailIds.get(jail);
    if (j === undefined) return;
    this.walk(j, target, family, (slot) => {
      this.jailOf[slot] = CLEARED;
      this.lines[slot] = undefined;
      this.live--;
      return true;
    });
  }

  /** Calls `on` for each live slot of the key, newest first, while it returns true. */
  private walk(j: number, target: Uint8Array, family: 4 | 6, on: (slot: number) => boolean): void {
    const oldest = this.seq - this.cap;
    let s = this.head[this.bucket(j, target, family)];
    for (let steps = 0; s > oldest && steps < MAX_WALK; steps++) {
      const slot = s % this.cap;
      // a slot written again since belongs to another chain: this one ends here
      if (this.seqOf[slot] !== s) return;
      if (this.jailOf[slot] === j && this.sameKey(slot, target, family) && !on(slot)) return;
      s = this.next[slot];
    }
  }

  private sameKey(slot: number, target: Uint8Array, family: 4 | 6): boolean {
    const k = slot * 17;
    if (this.keys[k] !== family) return false;
    const n = family === 4 ? 4 : 16;
    for (let i = 0; i < n; i++) if (this.keys[k + 1 + i] !== target[i]) return false;
    return true;
  }

  private bucket(j: number, target: Uint8Array, family: 4 | 6): number {
    let h = (this.seed ^ Math.imul(j + 1, 0x9e3779b1) ^ family) | 0;
    const n = family === 4 ? 4 : 16;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ target[i], 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & (BUCKETS - 1);
  }

  private idOf(jail: string): number {
    let id = this.jailIds.get(jail);
    if (id === undefined) {
      id = Math.min(this.jailIds.size, MAX_JAIL_IDS);
      if (this.jailIds.size < MAX_JAIL_IDS) this.jailIds.set(jail, id);
    }
    return id;
  }
}
