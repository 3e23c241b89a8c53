import type { Column, ColumnarResult } from './sqlite-dialect.js';

/** What a column is so far (plain numbers: it sits on the row loop of a bulk read). */
const NUMBER = 0;
const DICT = 1;
const TEXT = 2;

/** Distinct values a dictionary column may have before it is plain text (and past 1/8 of its rows). */
const DICT_MIN = 64;
const FIRST = 1024;
/** No value yet: equal to nothing a row holds. */
const NONE = Symbol('none');

/**
 * One result column built a row at a time: numbers (null as NaN) until a text value comes, then
 * a dictionary while few values repeat (reasons, pattern and node names), then plain text. Rows
 * are never kept, so a bulk read's garbage dies young: with `.all()` every page's row arrays
 * lived until the page was posted and the SQLite thread spent as long collecting as reading.
 */
export class ColumnBuilder {
  private mode: typeof NUMBER | typeof DICT | typeof TEXT = NUMBER;
  private n = 0;
  private nums = new Float64Array(FIRST);
  private index = new Uint32Array(0);
  private readonly ids = new Map<unknown, number>();
  private dict: (string | null)[] = [];
  private text: (string | null)[] = [];
  /** The dictionary value pushed last and its id (NONE before the first). */
  private lastValue: unknown = NONE;
  private lastId = 0;

  push(v: unknown): void {
    const i = this.n++;
    if (this.mode === NUMBER) {
      if (v === null || typeof v === 'number' || typeof v === 'bigint') {
        if (i === this.nums.length) this.nums = grow(this.nums, new Float64Array(i * 2));
        this.nums[i] = v === null ? Number.NaN : Number(v);
        return;
      }
      this.numbersToDict(i);
    }
    if (this.mode === DICT) {
      // a restore's rows mostly repeat the value above them: one string compare, no hashing
      let id = v === this.lastValue ? this.lastId : this.ids.get(v);
      if (id === undefined) {
        if (this.dict.length > DICT_MIN && this.dict.length > (i + 1) >>> 3) this.dictToText(i);
        else {
          id = this.dict.length;
          this.ids.set(v, id);
          this.dict.push(v === null ? null : String(v));
        }
      }
      if (id !== undefined) {
        if (i === this.index.length) this.index = grow(this.index, new Uint32Array(i * 2));
        this.index[i] = id;
        this.lastValue = v;
        this.lastId = id;
        return;
      }
    }
    this.text.push(v === null ? null : String(v));
  }

  /** The column, with the transferable buffer it holds (if any). */
  finish(): { column: Column; buffer: ArrayBuffer | null } {
    const n = this.n;
    if (this.mode === NUMBER) {
      const values = this.nums.subarray(0, n);
      return { column: { kind: 'number', values }, buffer: values.buffer as ArrayBuffer };
    }
    if (this.mode === DICT) {
      const index = this.index.subarray(0, n);
      return { column: { kind: 'dict', dict: this.dict, index }, buffer: index.buffer as ArrayBuffer };
    }
    return { column: { kind: 'text', values: this.text }, buffer: null };
  }

  /** The first `n` values were numbers (or null): as dictionary entries from now on. */
  private numbersToDict(n: number): void {
    this.mode = DICT;
    this.index = new Uint32Array(Math.max(FIRST, this.nums.length));
    for (let j = 0; j < n; j++) {
      const x = this.nums[j];
      const key = Number.isNaN(x) ? null : x;
      let id = this.ids.get(key);
      if (id === undefined) {
        id = this.dict.length;
        this.ids.set(key, id);
        this.dict.push(key === null ? null : String(key));
      }
      this.index[j] = id;
    }
    this.nums = new Float64Array(0);
  }

  /** The first `n` values were a dictionary's: as text from now on. */
  private dictToText(n: number): void {
    this.mode = TEXT;
    const text = new Array<string | null>(n);
    for (let j = 0; j < n; j++) text[j] = this.dict[this.index[j]];
    this.text = text;
    this.ids.clear();
    this.dict = [];
    this.index = new Uint32Array(0);
  }
}

function grow<T extends Float64Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Rows (each an array in `names` order) into columns, with the buffers to transfer. */
export function toColumns(
  names: readonly string[],
  rows: Iterable<unknown[]>,
): { result: ColumnarResult; transfer: ArrayBuffer[] } {
  const builders = names.map(() => new ColumnBuilder());
  let n = 0;
  for (const row of rows) {
    for (let k = 0; k < builders.length; k++) builders[k].push(row[k]);
    n++;
  }
  const columns: Record<string, Column> = {};
  const transfer: ArrayBuffer[] = [];
  for (let k = 0; k < names.length; k++) {
    const { column, buffer } = builders[k].finish();
    columns[names[k]] = column;
    if (buffer) transfer.push(buffer);
  }
  return { result: { length: n, columns }, transfer };
}
