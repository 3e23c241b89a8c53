import { formatIp, maskInPlace, parseCidr } from '../../../shared/ip/parse.js';

/**
 * Longest timeout given to the kernel: kernels before 6.x refuse element timeouts past about
 * 23 days. A longer ban gets this much and is renewed while edgeban runs.
 */
export const MAX_KERNEL_TIMEOUT_MS = 23 * 24 * 3600 * 1000;

interface Entry {
  bytes: Uint8Array;
  len: number;
  /** unix ms; null = permanent. */
  expiresAt: number | null;
}

/** What the kernel holds for one element, as last applied. */
interface Applied {
  expiresAt: number | null;
  /** When the kernel lifts it: `expiresAt`, or sooner when the timeout was capped. */
  until: number | null;
}

/** One element for the kernel: its text and timeout (ms; null = none). */
export interface Element {
  key: string;
  timeoutMs: number | null;
}

/** The changes of one batch for one set: deletes go out before adds. */
export interface SetChanges {
  /** Elements to remove (the kernel may have lifted them itself already). */
  remove: string[];
  add: Element[];
}

/**
 * One nftables interval set as edgeban wants it, and what the kernel was last given. The kernel
 * refuses overlapping intervals, so an entry inside a wider one (an address in a banned prefix)
 * is left out of the kernel while the wider one is there, and goes in when it leaves.
 */
export class ElementSet {
  private readonly entries = new Map<string, Entry>();
  private readonly applied = new Map<string, Applied>();
  /** Keys whose kernel state may differ from the wanted one. */
  private readonly dirty = new Set<string>();
  /** Entries per prefix length: an ancestor is looked for only at lengths in use. */
  private readonly perLength: Uint32Array;

  constructor(readonly family: 4 | 6) {
    this.perLength = new Uint32Array(family === 4 ? 33 : 129);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Elements the kernel holds, as far as edgeban knows. */
  get appliedSize(): number {
    return this.applied.size;
  }

  get pending(): number {
    return this.dirty.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  expiryOf(key: string): number | null | undefined {
    return this.entries.get(key)?.expiresAt;
  }

  /** Want `key` (canonical address or CIDR of this family) in the set until `expiresAt`. */
  put(key: string, expiresAt: number | null): void {
    const known = this.entries.get(key);
    if (known) {
      if (known.expiresAt === expiresAt) return;
      known.expiresAt = expiresAt;
      this.dirty.add(key);
      return;
    }
    const c = parseCidr(key);
    this.entries.set(key, { bytes: c.bytes, len: c.prefixLen, expiresAt });
    this.perLength[c.prefixLen]++;
    this.dirty.add(key);
    this.markInside(c.bytes, c.prefixLen);
  }

  remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.perLength[e.len]--;
    this.dirty.add(key);
    this.markInside(e.bytes, e.len);
  }

  /** Every key wanted now (for a diff against the ban table). */
  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** The kernel holds `key` already (read at start), lifting it at `until` (null = never). */
  seedApplied(key: string, until: number | null): void {
    this.applied.set(key, { expiresAt: until, until });
  }

  /** Mark entries whose capped kernel timeout runs out within half the cap, to renew them. */
  markRenewals(now: number): void {
    for (const [key, a] of this.applied) if (renewDue(a, now)) this.dirty.add(key);
  }

  /**
   * The changes that bring the kernel to the wanted state, and the applied state they leave
   * (`commit` it once nft took them). Expired entries leave without a delete: their timeout
   * already lifted them in the kernel.
   */
  changes(now: number): SetChanges & { commit: () => void } {
    const remove: string[] = [];
    const add: Element[] = [];
    const next: [string, Applied | null][] = [];
    // taken now: changes made while nft runs stay pending for the next batch
    const keys = this.takeDirty(now);
    for (const key of keys) {
      const wanted = this.wanted(key, now);
      const have = this.applied.get(key);
      if (wanted === null) {
        if (!have) continue;
        if (present(have, now)) remove.push(key);
        next.push([key, null]);
        continue;
      }
      const until =
        wanted.expiresAt === null ? null : Math.min(wanted.expiresAt, now + MAX_KERNEL_TIMEOUT_MS);
      // the same ban, and a capped timeout not yet due for renewal: nothing to send
      if (have && have.expiresAt === wanted.expiresAt && (have.until === until || !renewDue(have, now)))
        continue;
      if (have && present(have, now)) remove.push(key);
      add.push({ key, timeoutMs: until === null ? null : Math.max(1, until - now) });
      next.push([key, { expiresAt: wanted.expiresAt, until }]);
    }
    const commit = () => {
      for (const [key, a] of next) {
        if (a) this.applied.set(key, a);
        else this.applied.delete(key);
      }
    };
    return { remove, add, commit };
  }

  /**
   * Every element the kernel should hold now (a resync: flush the set, add these); `commit` makes
   * them the applied state.
   */
  full(now: number): { add: Element[]; commit: () => void } {
    const add: Element[] = [];
    const next = new Map<string, Applied>();
    this.takeDirty(now);
    for (const [key, e] of [...this.entries]) {
      if (e.expiresAt !== null && e.expiresAt <= now) this.remove(key);
    }
    this.dirty.clear();
    for (const [key, e] of this.entries) {
      if (this.shadowed(e)) continue;
      const until = e.expiresAt === null ? null : Math.min(e.expiresAt, now + MAX_KERNEL_TIMEOUT_MS);
      add.push({ key, timeoutMs: until === null ? null : Math.max(1, until - now) });
      next.set(key, { expiresAt: e.expiresAt, until });
    }
    const commit = () => {
      this.applied.clear();
      for (const [k, a] of next) this.applied.set(k, a);
    };
    return { add, commit };
  }

  /** The kernel's state is unknown (a batch failed): forget it, the next batch is a `full`. */
  forgetApplied(): void {
    this.applied.clear();
    this.dirty.clear();
  }

  /** The dirty keys, expired entries removed (which may dirty the entries they covered). */
  private takeDirty(now: number): Set<string> {
    const out = new Set<string>();
    while (this.dirty.size > 0) {
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const key of batch) {
        out.add(key);
        const e = this.entries.get(key);
        if (e && e.expiresAt !== null && e.expiresAt <= now) this.remove(key);
      }
    }
    for (const k of this.dirty) out.add(k);
    this.dirty.clear();
    return out;
  }

  private wanted(key: string, now: number): Entry | null {
    const e = this.entries.get(key);
    if (!e || (e.expiresAt !== null && e.expiresAt <= now)) return null;
    return this.shadowed(e) ? null : e;
  }

  /** Whether a wider entry covers this one (only lengths in use are looked at). */
  private shadowed(e: Entry): boolean {
    const max = this.family === 4 ? 32 : 128;
    let probe: Uint8Array | null = null;
    for (let l = 0; l < e.len; l++) {
      if (this.perLength[l] === 0) continue;
      probe ??= new Uint8Array(e.bytes.length);
      probe.set(e.bytes);
      maskInPlace(probe, l);
      const k = l === max ? formatIp(probe, this.family) : `${formatIp(probe, this.family)}/${l}`;
      if (this.entries.has(k)) return true;
    }
    return false;
  }

  /** Entries inside `bytes/len` change their kernel state when it comes or goes. */
  private markInside(bytes: Uint8Array, len: number): void {
    let narrower = false;
    for (let l = len + 1; l < this.perLength.length; l++) if (this.perLength[l] > 0) narrower = true;
    if (!narrower) return;
    // rare (a prefix banned over addresses already banned): one walk over the set
    for (const [key, e] of this.entries) {
      if (e.len <= len) continue;
      if (inside(e.bytes, bytes, len)) this.dirty.add(key);
    }
  }
}

/**
 * Whether a delete may name the element: not when the kernel lifts it within a second anyway (a
 * delete of a missing element fails the whole transaction).
 */
function present(a: Applied, now: number): boolean {
  return a.until === null || a.until > now + 1000;
}

/** A capped timeout with less than half the cap left. */
function renewDue(a: Applied, now: number): boolean {
  return a.until !== a.expiresAt && a.until !== null && a.until - now < MAX_KERNEL_TIMEOUT_MS / 2;
}

function inside(addr: Uint8Array, net: Uint8Array, len: number): boolean {
  let i = 0;
  for (; len >= 8; i++, len -= 8) if (addr[i] !== net[i]) return false;
  if (len === 0) return true;
  const mask = 0xff << (8 - len);
  return (addr[i] & mask) === (net[i] & mask);
}
