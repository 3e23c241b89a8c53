import { type LineBatcher, splitLines } from './batcher.js';

const MODE_UNKNOWN = 0;
const MODE_OCTET = 1;
const MODE_LF = 2;

/** Longest `MSG-LEN` prefix accepted (digits). */
const MAX_LEN_DIGITS = 9;
/** Bytes that can decide the framing: MSG-LEN, SP and the `<` of the PRI. */
const PROBE_MAX = MAX_LEN_DIGITS + 2;

const PROBE_WAIT = 0;
const PROBE_OCTET = 1;
const PROBE_LF = 2;

/**
 * RFC 6587 octet counting is `MSG-LEN SP SYSLOG-MSG` and a syslog message starts with `<PRI>`:
 * only `DIGITS SP <` says octet counting. A line that merely starts with a digit (rsyslog's file
 * format: an ISO timestamp, no PRI) is newline framing. PROBE_WAIT while the bytes so far could
 * still be either.
 */
export function probeFraming(buf: Uint8Array, len: number): number {
  let i = 0;
  while (i < len && i < MAX_LEN_DIGITS && buf[i] >= 48 && buf[i] <= 57) i++;
  if (i === 0 || buf[0] === 48) return len === 0 ? PROBE_WAIT : PROBE_LF;
  if (i === len) return PROBE_WAIT;
  if (buf[i] !== 32) return PROBE_LF;
  if (i + 1 === len) return PROBE_WAIT;
  return buf[i + 1] === 60 ? PROBE_OCTET : PROBE_LF;
}

export interface FramerCounters {
  lines: number;
  truncated: number;
  framingErrors: number;
}

/**
 * RFC 6587 framing of one TCP syslog connection, detected from its first bytes (probeFraming):
 * `LEN SP <` means octet counting, anything else newline-delimited (non-transparent) framing.
 * Until the first PROBE_MAX bytes decide, they are held back (a sender may write one byte a time).
 * Frames and lines may be split across reads at any byte; lines longer than `maxLen` are cut
 * (counted) and the rest of them skipped. A broken octet count returns false: the caller closes
 * the connection, since the stream can no longer be resynchronised.
 */
export class SyslogFramer {
  private mode = MODE_UNKNOWN;
  /** Partial line (LF mode) or partial frame (octet mode), at most maxLen bytes kept. */
  private carry: Buffer;
  private carryLen = 0;
  /** LF mode: skipping the rest of an over-long line. */
  private skipping = false;
  /** Octet mode: bytes of the current frame still to read (-1 while reading the length). */
  private remaining = -1;
  private lenValue = 0;
  private lenDigits = 0;
  private frameLen = 0;
  /** The first bytes of the connection while the framing is undecided. */
  private probe: Buffer | null = Buffer.alloc(PROBE_MAX);
  private probeLen = 0;

  constructor(
    private readonly maxLen: number,
    private readonly batcher: LineBatcher,
    private readonly counters: FramerCounters,
  ) {
    this.carry = Buffer.allocUnsafe(Math.min(maxLen, 64 * 1024));
  }

  push(chunk: Buffer): boolean {
    if (this.mode === MODE_UNKNOWN) {
      const probe = this.probe as Buffer;
      const n = Math.min(PROBE_MAX - this.probeLen, chunk.length);
      chunk.copy(probe, this.probeLen, 0, n);
      this.probeLen += n;
      const p = probeFraming(probe, this.probeLen);
      if (p === PROBE_WAIT) return true;
      this.mode = p === PROBE_OCTET ? MODE_OCTET : MODE_LF;
      // the held-back bytes go first, then the rest of this chunk (once per connection)
      const held = this.probeLen - n;
      this.probe = null;
      if (held > 0) {
        const first = probe.subarray(0, held);
        const ok = this.mode === MODE_OCTET ? this.pushOctet(first) : this.pushLf(first);
        if (!ok) return false;
      }
    }
    return this.mode === MODE_OCTET ? this.pushOctet(chunk) : this.pushLf(chunk);
  }

  /** End of stream: a final unterminated line still counts. */
  end(): void {
    if (this.mode === MODE_UNKNOWN && this.probe !== null && this.probeLen > 0) {
      // too short to be a frame: a newline sender's last line
      this.mode = MODE_LF;
      this.pushLf(Buffer.from(this.probe.subarray(0, this.probeLen)));
      this.probe = null;
    }
    if (this.mode === MODE_LF && this.carryLen > 0 && !this.skipping) this.emit(this.carry, 0, this.carryLen);
    this.carryLen = 0;
  }

  private emit(buf: Buffer, start: number, end: number): void {
    const r = splitLines(buf, start, end, this.maxLen, this.batcher);
    this.counters.lines += r.lines;
    this.counters.truncated += r.truncated;
  }

  private keep(chunk: Buffer, start: number, end: number): void {
    const room = this.maxLen - this.carryLen;
    const n = Math.min(room, end - start);
    if (n <= 0) return;
    if (this.carryLen + n > this.carry.length) {
      const bigger = Buffer.allocUnsafe(
        Math.min(this.maxLen, Math.max(this.carry.length * 2, this.carryLen + n)),
      );
      this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
    chunk.copy(this.carry, this.carryLen, start, start + n);
    this.carryLen += n;
  }

  private pushLf(chunk: Buffer): boolean {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      const nl = chunk.indexOf(10, i);
      if (nl < 0) {
        if (this.skipping) return true;
        if (this.carryLen + (end - i) > this.maxLen) {
          // an over-long line: keep its first maxLen bytes, emit them now, skip to the next LF
          this.keep(chunk, i, end);
          this.emitCut();
          this.skipping = true;
          return true;
        }
        this.keep(chunk, i, end);
        return true;
      }
      if (this.skipping) {
        this.skipping = false;
      } else if (this.carryLen > 0) {
        if (this.carryLen + (nl - i) > this.maxLen) {
          this.keep(chunk, i, nl);
          this.emitCut();
        } else {
          this.keep(chunk, i, nl);
          this.emit(this.carry, 0, this.carryLen);
        }
        this.carryLen = 0;
      } else {
        // every complete line left in this chunk goes over as one block (one copy, no per-line
        // work here); the worker trims CRs, skips empty lines and cuts over-long ones
        const last = chunk.lastIndexOf(10);
        this.emitBlock(chunk, i, last);
        i = last + 1;
        continue;
      }
      i = nl + 1;
    }
    return true;
  }

  private emitBlock(buf: Buffer, start: number, end: number): void {
    let lines = 1;
    for (let p = buf.indexOf(10, start); p >= 0 && p < end; p = buf.indexOf(10, p + 1)) lines++;
    this.batcher.addBlock(buf, start, end, lines);
    this.counters.lines += lines;
  }

  private emitCut(): void {
    this.emit(this.carry, 0, this.carryLen);
    this.counters.truncated++;
    this.carryLen = 0;
  }

  private pushOctet(chunk: Buffer): boolean {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.remaining < 0) {
        const c = chunk[i];
        if (c >= 48 && c <= 57) {
          if (++this.lenDigits > MAX_LEN_DIGITS || (this.lenDigits === 1 && c === 48)) return this.broken();
          this.lenValue = this.lenValue * 10 + (c - 48);
          i++;
          continue;
        }
        if (c === 32 && this.lenDigits > 0) {
          this.remaining = this.lenValue;
          this.frameLen = this.lenValue;
          this.lenValue = 0;
          this.lenDigits = 0;
          this.carryLen = 0;
          i++;
          if (this.remaining === 0) this.remaining = -1;
          continue;
        }
        // LF between frames is tolerated (some senders add one)
        if ((c === 10 || c === 13) && this.lenDigits === 0) {
          i++;
          continue;
        }
        return this.broken();
      }
      const take = Math.min(this.remaining, end - i);
      if (this.carryLen === 0 && take === this.remaining) {
        this.emit(chunk, i, i + take);
      } else {
        this.keep(chunk, i, i + take);
        if (take === this.remaining) {
          // collected across reads; keep() stored at most maxLen bytes of it
          if (this.frameLen > this.maxLen) this.counters.truncated++;
          this.emit(this.carry, 0, this.carryLen);
        }
      }
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) {
        this.remaining = -1;
        this.carryLen = 0;
      }
    }
    return true;
  }

  private broken(): boolean {
    this.counters.framingErrors++;
    return false;
  }
}
