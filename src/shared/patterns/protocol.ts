/**
 * Messages between the main thread and the matcher workers (piscina tasks). Lines travel as one
 * UTF-8 buffer joined by `\n` (transferred, not copied); matches come back as fixed-size records
 * in one buffer, so a batch of 512 lines is one message each way.
 */

/** One pattern-set version as the workers receive it (JSON in `MatchTask.patterns`). */
export interface PatternSetPayload {
  version: number;
  specs: import('./compile.js').PatternSpec[];
  /** Ids (positions among enabled patterns) quarantined in this version. */
  skip: number[];
  /**
   * Which patterns read which lines (a jail's `logpath`): route r's batches run only the patterns
   * named in `routes[r]`. Absent (or one route): every batch runs every pattern. Route 0 is
   * syslog and the files no jail reads.
   */
  routes?: string[][];
}

export interface MatchTask {
  /** Pattern-set version; the worker compiles it once and caches it. */
  version: number;
  /** JSON of PatternSetPayload for `version` (parsed only by workers that lack it). */
  patterns: string;
  /** Lines joined by `\n` (CR, NUL and empty lines tolerated: replays send raw file chunks). */
  buf: Uint8Array;
  /** Lines in `buf` as far as the sender knows (receivers), 0 when it did not count (replay). */
  count: number;
  /** Cut lines longer than this (UTF-16 units), counting them; 0 = receivers already did. */
  maxLen: number;
  /** Receive time (unix ms) of the batch; the time of every match unless `lineTime`. */
  timeMs: number;
  /** Use each line's own timestamp (replay); `timeMs` is the reference for year-less ones. */
  lineTime: boolean;
  /** Longest the batch may take (ms) before the worker profiles its patterns. */
  budgetMs: number;
  /** Where the lines come from (PatternSetPayload.routes); 0 when absent. */
  route?: number;
}

/** Bytes per match record: u16 pattern id, u8 family (0: none, session records only), u8 0, 16 address bytes, u32 line, f64 time. */
export const RECORD_SIZE = 32;
export const REC_PATTERN = 0;
export const REC_FAMILY = 2;
export const REC_ADDR = 4;
export const REC_LINE = 20;
export const REC_TIME = 24;

export interface MatchResult {
  version: number;
  lines: number;
  /** Lines cut to `maxLen`. */
  truncated: number;
  /** `matches * RECORD_SIZE` bytes of records, in line order. */
  records: Uint8Array;
  matches: number;
  /** The matched lines (at most 200 characters each), one per record; absent from older workers. */
  texts?: string[];
  /**
   * Per record, the session of a session pattern's match (`flags \0 mlfid \0 user`; '' for the
   * other records; absent when the batch has none). Such a record is not yet a failure: the main
   * thread decides it with the session's earlier lines, and its family is 0 when the line names
   * no address. `perPattern` leaves these records out.
   */
  sessions?: string[];
  /** Matches per pattern id. */
  perPattern: Uint32Array;
  /** Lines without a recognisable syslog header (matched as plain text). */
  parseFailures: number;
  elapsedMs: number;
  /** Pattern ids that used more than half the batch budget while profiling: quarantine them. */
  slow: number[];
}
