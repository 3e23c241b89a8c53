import type { StringPool } from './strings.js';

const FIRST = 16;

/**
 * Interned provenance tuples (reason, pattern, creator, node, services and their mask) with
 * reference counts: a ban row keeps one id instead of six columns. An edge's bans share a handful
 * of tuples (a pattern's reason, the log or an operator as creator, one node), so a million bans
 * cost 4 bytes each here instead of 24. A tuple whose last row goes is dropped and its id reused,
 * so reasons made up by API callers do not pile up. Id 0 is never handed out.
 */
export class ProvenancePool {
  private readonly ids = new Map<string, number>();
  private keys: (string | null)[] = [null];
  private reasonId = new Uint32Array(FIRST);
  private patternId = new Uint32Array(FIRST);
  private creatorId = new Uint32Array(FIRST);
  private nodeId = new Uint32Array(FIRST);
  private servicesId = new Uint32Array(FIRST);
  private maskOf = new Uint32Array(FIRST);
  private refs = new Int32Array(FIRST);
  private readonly freeIds: number[] = [];
  /** The tuple acquired last: a restore's rows mostly repeat it, and then no key is built. */
  private last = 0;

  constructor(private readonly strings: StringPool) {}

  /** The id of the tuple, one more reference to it. `services` as text (`imap,smtp`) or null. */
  acquire(
    reason: string,
    pattern: string | null,
    createdBy: string,
    node: string,
    services: string | null,
    mask: number,
  ): number {
    const s = this.strings;
    const l = this.last;
    if (
      l !== 0 &&
      this.refs[l] > 0 &&
      this.maskOf[l] === mask &&
      s.text(this.reasonId[l]) === reason &&
      s.text(this.patternId[l]) === pattern &&
      s.text(this.creatorId[l]) === createdBy &&
      s.text(this.nodeId[l]) === node &&
      s.text(this.servicesId[l]) === services
    ) {
      this.refs[l]++;
      return l;
    }
    const r = s.acquire(reason);
    const p = s.acquire(pattern);
    const c = s.acquire(createdBy);
    const n = s.acquire(node);
    const v = s.acquire(services);
    const key = `${r},${p},${c},${n},${v},${mask}`;
    let id = this.ids.get(key);
    if (id !== undefined) {
      // the tuple already holds its strings
      s.release(r);
      s.release(p);
      s.release(c);
      s.release(n);
      s.release(v);
    } else {
      id = this.freeIds.pop() ?? this.keys.length;
      if (id === this.keys.length) this.keys.push(key);
      else this.keys[id] = key;
      if (id >= this.refs.length) this.grow();
      this.reasonId[id] = r;
      this.patternId[id] = p;
      this.creatorId[id] = c;
      this.nodeId[id] = n;
      this.servicesId[id] = v;
      this.maskOf[id] = mask >>> 0;
      this.ids.set(key, id);
    }
    this.refs[id]++;
    this.last = id;
    return id;
  }

  /** One reference fewer; the tuple (and its strings' references) go with the last one. */
  release(id: number): void {
    if (id === 0 || --this.refs[id] > 0) return;
    const s = this.strings;
    s.release(this.reasonId[id]);
    s.release(this.patternId[id]);
    s.release(this.creatorId[id]);
    s.release(this.nodeId[id]);
    s.release(this.servicesId[id]);
    const key = this.keys[id];
    if (key !== null) this.ids.delete(key);
    this.keys[id] = null;
    this.refs[id] = 0;
    this.freeIds.push(id);
  }

  reason(id: number): string {
    return this.strings.text(this.reasonId[id]) ?? '';
  }

  pattern(id: number): string | null {
    return this.strings.text(this.patternId[id]);
  }

  createdBy(id: number): string {
    return this.strings.text(this.creatorId[id]) ?? '';
  }

  node(id: number): string {
    return this.strings.text(this.nodeId[id]) ?? '';
  }

  /** Services as stored (`imap,smtp`); null when the ban covers every service. */
  services(id: number): string | null {
    return this.strings.text(this.servicesId[id]);
  }

  mask(id: number): number {
    return this.maskOf[id];
  }

  /** Distinct tuples held. */
  get size(): number {
    return this.ids.size;
  }

  private grow(): void {
    const n = this.refs.length * 2;
    const more = <T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    const u32 = (k: number) => new Uint32Array(k);
    this.reasonId = more(this.reasonId, u32);
    this.patternId = more(this.patternId, u32);
    this.creatorId = more(this.creatorId, u32);
    this.nodeId = more(this.nodeId, u32);
    this.servicesId = more(this.servicesId, u32);
    this.maskOf = more(this.maskOf, u32);
    this.refs = more(this.refs, (k) => new Int32Array(k));
  }
}
