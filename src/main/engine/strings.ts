/**
 * Interned strings with reference counts: the engine's provenance tuples (provenance.ts) keep a
 * small integer per reason, pattern, creator, node and services instead of a string each. Id 0 is null. A string whose last
 * user goes is dropped and its id reused, so reasons made up by API callers do not pile up.
 */
export class StringPool {
  private readonly ids = new Map<string, number>();
  private texts: (string | null)[] = [null];
  private refs = new Int32Array(16);
  private readonly freeIds: number[] = [];

  /** The id of `s` (null → 0), one more reference to it. */
  acquire(s: string | null): number {
    if (s === null) return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.texts.length;
      if (id === this.texts.length) this.texts.push(s);
      else this.texts[id] = s;
      if (id >= this.refs.length) {
        const r = new Int32Array(this.refs.length * 2);
        r.set(this.refs);
        this.refs = r;
      }
      this.ids.set(s, id);
    }
    this.refs[id]++;
    return id;
  }

  /** One reference fewer; the string goes with the last one. */
  release(id: number): void {
    if (id === 0) return;
    if (--this.refs[id] > 0) return;
    const s = this.texts[id];
    if (s !== null) this.ids.delete(s);
    this.texts[id] = null;
    this.refs[id] = 0;
    this.freeIds.push(id);
  }

  text(id: number): string | null {
    return this.texts[id] ?? null;
  }

  /** Distinct strings held. */
  get size(): number {
    return this.ids.size;
  }
}
