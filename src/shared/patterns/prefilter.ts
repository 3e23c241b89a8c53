import type { CompiledPattern } from './compile.js';
import { requiredFactors } from './literals.js';

/** Alphabet of the automaton: ASCII only (other characters are in no literal). */
const ASCII = 128;
/**
 * Characters kept of each literal (its prefix: in every text the literal is in, so sound). The
 * table is states × classes: for the imported Debian filters 6318 states (1.4 MB, out of cache
 * on every line) against 1845 at 8, for a few more regex calls (2.04 → 2.07 per line).
 */
const MAX_WORD = 8;

/**
 * One multi-literal scan per line that tells which patterns can still match it: a pattern with
 * required factors (literals.ts) is a candidate only when each factor has a literal in the line.
 * An Aho-Corasick automaton compiled to a dense table over the literals' characters, ASCII case
 * folded (superset of the case-sensitive answer, so still sound). Patterns without required
 * literals, and raw-line patterns, always pass.
 */
export class Prefilter {
  /** 1: the pattern has required literals and is filtered. */
  readonly need: Uint8Array;
  /** `mark[factor] === stamp`: one of the factor's literals was in the last scanned line. */
  readonly mark: Uint32Array;
  stamp = 0;
  /** How many patterns are filtered. */
  readonly filtered: number;
  /** Characters of the longest literal. */
  readonly longest: number;
  /** Pattern id → its factors, `factorIds[factorStart[id] … factorStart[id + 1])`. */
  private readonly factorStart: Int32Array;
  private readonly factorIds: Int32Array;
  /** Pattern id → its first factor, -1 when it is not filtered. */
  private readonly firstFactor: Int32Array;

  private readonly cls = new Uint16Array(ASCII);
  private readonly width: number;
  private readonly delta: Int32Array;
  private readonly outStart: Int32Array;
  private readonly outIds: Int32Array;

  /** `include`: the patterns this scan decides for (the others always pass). */
  constructor(patterns: readonly CompiledPattern[], include: (p: CompiledPattern) => boolean = plainText) {
    this.need = new Uint8Array(patterns.length);
    // a pattern passes when each of its factors (literal sets, all required) has a literal in the line
    const words: { text: string; id: number }[] = [];
    this.factorStart = new Int32Array(patterns.length + 1);
    const fids: number[] = [];
    for (const p of patterns) {
      this.factorStart[p.id] = fids.length;
      if (p.raw || !include(p)) continue;
      for (const lits of requiredFactors(p.re.source, p.re.flags)) {
        const f = fids.length;
        fids.push(f);
        for (const l of lits) words.push({ text: l.toLowerCase().slice(0, MAX_WORD), id: f });
      }
      if (fids.length > this.factorStart[p.id]) this.need[p.id] = 1;
    }
    this.factorStart[patterns.length] = fids.length;
    this.factorIds = Int32Array.from(fids);
    this.firstFactor = Int32Array.from(patterns, (p) =>
      this.need[p.id] === 1 ? this.factorIds[this.factorStart[p.id]] : -1,
    );
    this.mark = new Uint32Array(fids.length);
    this.filtered = this.need.reduce((a, b) => a + b, 0);
    this.longest = words.reduce((a, w) => Math.max(a, w.text.length), 0);
    // character classes: 0 = in no literal; upper case shares its lower-case letter's class
    let n = 1;
    for (const w of words)
      for (let k = 0; k < w.text.length; k++) {
        const c = w.text.charCodeAt(k);
        if (this.cls[c] === 0) this.cls[c] = n++;
      }
    for (let c = 65; c <= 90; c++) this.cls[c] = this.cls[c + 32];
    this.width = n;
    // trie
    const next: Map<number, number>[] = [new Map()];
    const outs: number[][] = [[]];
    for (const w of words) {
      let s = 0;
      for (let k = 0; k < w.text.length; k++) {
        const c = this.cls[w.text.charCodeAt(k)];
        let t = next[s].get(c);
        if (t === undefined) {
          t = next.length;
          next.push(new Map());
          outs.push([]);
          next[s].set(c, t);
        }
        s = t;
      }
      outs[s].push(w.id);
    }
    // breadth-first: failure links, dense transitions, outputs merged along the failure chain
    const states = next.length;
    const delta = new Int32Array(states * n);
    const fail = new Int32Array(states);
    const order: number[] = [];
    for (const [c, t] of next[0]) {
      delta[c] = t;
      order.push(t);
    }
    for (let q = 0; q < order.length; q++) {
      const s = order[q];
      for (const id of outs[fail[s]]) outs[s].push(id);
      for (let c = 0; c < n; c++) {
        const t = next[s].get(c);
        if (t === undefined) delta[s * n + c] = delta[fail[s] * n + c];
        else {
          fail[t] = delta[fail[s] * n + c];
          delta[s * n + c] = t;
          order.push(t);
        }
      }
    }
    // class 0 is in no literal: every state goes back to the root on it (already 0).
    // Entries hold the target's row offset, doubled, plus 1 when it has outputs: the scan then
    // needs no multiply per character and looks outputs up only where there are some
    for (let e = 0; e < delta.length; e++) {
      const t = delta[e];
      delta[e] = ((t * n) << 1) | (outs[t].length > 0 ? 1 : 0);
    }
    this.delta = delta;
    this.outStart = new Int32Array(states + 1);
    const flat: number[] = [];
    for (let s = 0; s < states; s++) {
      this.outStart[s] = flat.length;
      for (const id of new Set(outs[s])) flat.push(id);
    }
    this.outStart[states] = flat.length;
    this.outIds = Int32Array.from(flat);
  }

  /** Marks the patterns whose literals occur in `text` (readable through `passes`). */
  scan(text: string): void {
    if (++this.stamp === 0xffffffff) {
      this.mark.fill(0);
      this.stamp = 1;
    }
    this.run(text, 0, text.length, 0);
  }

  /**
   * Adds, to the last scan's marks, the literals of `text[a, s) + text[e, b)` (text with a span
   * cut out): what a literal running across the cut needs, without making the cut text.
   */
  scanJoined(text: string, a: number, s: number, e: number, b: number): void {
    this.run(text, e, b, this.run(text, a, s, 0));
  }

  /** Runs the automaton over `text[from, to)` from row `row`; returns the row reached. */
  private run(text: string, from: number, to: number, row0: number): number {
    const stamp = this.stamp;
    const cls = this.cls;
    const delta = this.delta;
    const w = this.width;
    const start = this.outStart;
    const ids = this.outIds;
    const mark = this.mark;
    let row = row0;
    for (let k = from; k < to; k++) {
      const c = text.charCodeAt(k);
      const v = delta[row + (c < ASCII ? cls[c] : 0)];
      row = v >> 1;
      if ((v & 1) === 0) continue;
      const s = (row / w) | 0;
      const b = start[s + 1];
      for (let j = start[s]; j < b; j++) mark[ids[j]] = stamp;
    }
    return row;
  }

  /** Pattern `id` may match the last scanned line. */
  passes(id: number): boolean {
    // most patterns fail on their first (most selective) factor: one load decides them
    const f = this.firstFactor[id];
    if (f < 0) return true;
    if (this.mark[f] !== this.stamp) return false;
    const b = this.factorStart[id + 1];
    for (let j = this.factorStart[id] + 1; j < b; j++)
      if (this.mark[this.factorIds[j]] !== this.stamp) return false;
    return true;
  }
}

/** Patterns that see `tag: message` (not the raw line, not a date-cut line). */
function plainText(p: CompiledPattern): boolean {
  return !p.raw && p.dates === null;
}
