/**
 * Collects lines into batches for the matcher pool: one buffer of lines joined by `\n`, flushed
 * when `maxLines` is reached or `maxDelayMs` after its first line (one timer per batch, not per
 * line). Each batch gets a fresh ArrayBuffer so it can be transferred to a worker without a copy.
 */
/** Shortest gap between two batches sent early (pool idle) rather than full or timed out. */
const MIN_EARLY_GAP_MS = 1;

export type BatchSink = (buf: Uint8Array, count: number, timeMs: number) => void;

export class LineBatcher {
  private buf: Buffer;
  private len = 0;
  private count = 0;
  private firstAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastSize = 64 * 1024;
  private immediate: NodeJS.Immediate | null = null;
  private lastFlushAt = -1e9;
  /** When set and true, a batch goes out at the end of this event-loop turn instead of waiting. */
  private idle: (() => boolean) | null = null;
  private readonly onTimer = () => {
    this.timer = null;
    this.flush();
  };
  private readonly onImmediate = () => {
    this.immediate = null;
    this.flush();
  };

  constructor(
    private readonly maxLines: number,
    private readonly maxDelayMs: number,
    private readonly sink: BatchSink,
    private readonly now: () => number = Date.now,
  ) {
    this.buf = Buffer.allocUnsafeSlow(this.lastSize);
  }

  /**
   * Latency-aware batching (Nagle-like): when the matcher pool has nothing in flight (`idle()`,
   * or `kick()` when it drains), a batch leaves at once (end of this event-loop turn) — but at
   * most one such early batch per millisecond, so a flood still makes batches of a millisecond's
   * worth of lines rather than thousands of tiny ones. Otherwise lines wait for `maxLines` or
   * `maxDelayMs`. Low rates get sub-millisecond latency, high rates full batches.
   */
  setIdleCheck(idle: () => boolean): void {
    this.idle = idle;
  }

  /** The pool drained: send what is pending now (or within the millisecond). */
  kick(): void {
    if (this.count === 0) return;
    const wait = this.lastFlushAt + MIN_EARLY_GAP_MS - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.earlyTimer(wait);
  }

  private earlyTimer(wait: number): void {
    if (this.immediate !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimer, Math.ceil(wait));
  }

  private arm(): void {
    if (this.idle?.()) {
      const wait = this.lastFlushAt + MIN_EARLY_GAP_MS - performance.now();
      if (wait <= 0) {
        if (this.immediate === null) this.immediate = setImmediate(this.onImmediate);
      } else {
        this.earlyTimer(wait);
      }
    } else if (this.maxDelayMs > 0 && this.timer === null) {
      this.timer = setTimeout(this.onTimer, this.maxDelayMs);
    }
  }

  /** Appends `src[start, end)` as one line (the caller has already cut it to the length limit). */
  add(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.len + n + 1 > this.buf.length) this.grow(n + 1);
    if (this.count === 0) {
      this.firstAt = this.now();
      this.arm();
    } else {
      this.buf[this.len++] = 10;
    }
    src.copy(this.buf, this.len, start, end);
    this.len += n;
    if (++this.count >= this.maxLines) this.flush();
  }

  /** Appends `prefix` then `src[start, end)` as one line (file lines given a syslog header). */
  addPrefixed(prefix: Buffer, src: Buffer, start: number, end: number): void {
    const n = prefix.length + end - start;
    if (this.len + n + 1 > this.buf.length) this.grow(n + 1);
    if (this.count === 0) {
      this.firstAt = this.now();
      this.arm();
    } else {
      this.buf[this.len++] = 10;
    }
    prefix.copy(this.buf, this.len);
    this.len += prefix.length;
    src.copy(this.buf, this.len, start, end);
    this.len += end - start;
    if (++this.count >= this.maxLines) this.flush();
  }

  /**
   * Appends `src[start, end)`, which holds `lines` complete lines joined by LF (TCP blocks). The
   * worker normalises them (CR, empty lines, length), so nothing is scanned here.
   */
  addBlock(src: Buffer, start: number, end: number, lines: number): void {
    const n = end - start;
    if (this.len + n + 1 > this.buf.length) this.grow(n + 1);
    if (this.count === 0) {
      this.firstAt = this.now();
      this.arm();
    } else {
      this.buf[this.len++] = 10;
    }
    src.copy(this.buf, this.len, start, end);
    this.len += n;
    this.count += lines;
    if (this.count >= this.maxLines) this.flush();
  }

  get pending(): number {
    return this.count;
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    if (this.count === 0) return;
    this.lastFlushAt = performance.now();
    const out = this.buf.subarray(0, this.len);
    const count = this.count;
    const at = this.firstAt;
    this.lastSize = Math.max(16 * 1024, Math.ceil(this.len * 1.25));
    this.buf = Buffer.allocUnsafeSlow(this.lastSize);
    this.len = 0;
    this.count = 0;
    this.sink(out, count, at);
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.len + need));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  close(): void {
    this.flush();
  }
}

/**
 * Splits `data[start, end)` at LF into lines for `batcher`: strips a trailing CR, skips empty
 * lines, cuts lines longer than `maxLen` (returns how many were cut, so none is cut silently).
 */
export function splitLines(
  data: Buffer,
  start: number,
  end: number,
  maxLen: number,
  batcher: LineBatcher,
): {
  lines: number;
  truncated: number;
} {
  let lines = 0;
  let truncated = 0;
  let i = start;
  while (i < end) {
    let j = data.indexOf(10, i);
    if (j < 0 || j > end) j = end;
    let e = j;
    while (e > i && (data[e - 1] === 13 || data[e - 1] === 0)) e--;
    if (e > i) {
      if (e - i > maxLen) {
        e = i + maxLen;
        truncated++;
      }
      batcher.add(data, i, e);
      lines++;
    }
    i = j + 1;
  }
  splitResult.lines = lines;
  splitResult.truncated = truncated;
  return splitResult;
}

const splitResult = { lines: 0, truncated: 0 };
