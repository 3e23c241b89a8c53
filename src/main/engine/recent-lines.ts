/** Lines kept per (jail, target). */
export const LINES_PER_TARGET = 5;
/** Lines kept over every (jail, target). */
export const LINES_TOTAL = 10_000;
/** Characters kept of each line. */
export const LINE_CHARS = 200;

/**
 * The last few log lines that counted, per (jail, target), for the explain view. Bounded twice:
 * LINES_PER_TARGET per key and LINES_TOTAL overall, the keys failing least recently dropped
 * first (a Map keeps insertion order; a touched key moves to the end).
 */
export class RecentLines {
  private readonly byKey = new Map<string, string[]>();
  private total = 0;

  constructor(
    private readonly perTarget = LINES_PER_TARGET,
    private readonly max = LINES_TOTAL,
  ) {}

  get size(): number {
    return this.total;
  }

  add(jail: string, target: string, line: string): void {
    const key = `${jail}|${target}`;
    let lines = this.byKey.get(key);
    if (lines === undefined) lines = [];
    else this.byKey.delete(key);
    this.byKey.set(key, lines);
    lines.push(line.length > LINE_CHARS ? line.slice(0, LINE_CHARS) : line);
    this.total++;
    if (lines.length > this.perTarget) {
      lines.shift();
      this.total--;
    }
    while (this.total > this.max) {
      const oldest = this.byKey.keys().next();
      if (oldest.done) break;
      const gone = this.byKey.get(oldest.value);
      this.total -= gone?.length ?? 0;
      this.byKey.delete(oldest.value);
    }
  }

  get(jail: string, target: string): readonly string[] {
    return this.byKey.get(`${jail}|${target}`) ?? [];
  }

  /** Forget a key (its count was reset, the address logged in). */
  clear(jail: string, target: string): void {
    const key = `${jail}|${target}`;
    const lines = this.byKey.get(key);
    if (lines === undefined) return;
    this.total -= lines.length;
    this.byKey.delete(key);
  }
}
