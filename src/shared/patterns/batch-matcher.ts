import {
  FORMAT_5424,
  FORMAT_NONE,
  lineTimeMs,
  parseSyslog,
  patternText,
  SyslogHeader,
} from '../syslog/parse.js';
import { normalizeSpec, type PatternSpec } from './compile.js';
import {
  type MatchResult,
  type MatchTask,
  type PatternSetPayload,
  REC_ADDR,
  REC_FAMILY,
  REC_LINE,
  REC_PATTERN,
  RECORD_SIZE,
} from './protocol.js';
import { LineMatcher, PatternSet } from './set.js';

const decoder = new TextDecoder('utf-8');
/**
 * Bytes decoded into one string. A string above V8's large-object size (~128 KiB) costs ten times
 * more to create than the same text in smaller strings (measured: 0.1 against 0.01 µs per line).
 */
const DECODE_CHUNK = 64 * 1024;

/** Match records of one batch, grown by doubling (a batch has few matches). */
/** Characters of a matched line sent back with its record. */
const MATCH_TEXT_CHARS = 200;

class RecordWriter {
  /** The matched lines, cut to MATCH_TEXT_CHARS, one per record (the explain view's last lines). */
  readonly texts: string[] = [];
  records = new Uint8Array(16 * RECORD_SIZE);
  private times = new Float64Array(this.records.buffer);
  /** Per record: a session pattern's session ('' for the others); null until a batch has one. */
  sessions: string[] | null = null;
  count = 0;

  /** The session of the record just added. */
  session(s: string): void {
    if (this.sessions === null) this.sessions = new Array<string>(this.count - 1).fill('');
    this.sessions.push(s);
  }

  add(pattern: number, family: 0 | 4 | 6, addr: Uint8Array, line: number, timeMs: number): void {
    if ((this.count + 1) * RECORD_SIZE > this.records.length) {
      const bigger = new Uint8Array(this.records.length * 2);
      bigger.set(this.records);
      this.records = bigger;
      this.times = new Float64Array(bigger.buffer);
    }
    const r = this.records;
    const o = this.count * RECORD_SIZE;
    r[o + REC_PATTERN] = pattern & 0xff;
    r[o + REC_PATTERN + 1] = pattern >>> 8;
    r[o + REC_FAMILY] = family;
    // a loop, not set(subarray): a view per match was most of this call's cost
    for (let k = 0, n = family === 4 ? 4 : 16; k < n; k++) r[o + REC_ADDR + k] = addr[k];
    r[o + REC_LINE] = line & 0xff;
    r[o + REC_LINE + 1] = (line >>> 8) & 0xff;
    r[o + REC_LINE + 2] = (line >>> 16) & 0xff;
    r[o + REC_LINE + 3] = line >>> 24;
    this.times[this.count * 4 + 3] = timeMs;
    this.count++;
  }
}

/**
 * One route's patterns of a version: a matcher over those alone, and the id each of its patterns
 * has in the whole set (records, tallies and quarantines speak the whole set's ids).
 */
interface RouteMatcher {
  matcher: LineMatcher;
  /** Null: the whole set (no id to translate). */
  ids: Int32Array | null;
}

/**
 * A version as the worker keeps it: the whole set's matcher (without routes) or each route's,
 * made on first use; a routed version never compiles the whole set.
 */
interface VersionMatchers {
  payload: PatternSetPayload;
  /** The enabled specs, in id order (an id is a position here). */
  enabled: PatternSpec[];
  /** 1 for each id quarantined in this version. */
  skip: Uint8Array;
  whole: LineMatcher | null;
  routes: (RouteMatcher | undefined)[];
}

/** Per-batch tallies, kept across the batch's chunks. */
interface Tally {
  lines: number;
  truncated: number;
  parseFailures: number;
  readonly perPattern: Uint32Array;
}

/**
 * Runs a batch of lines through one pattern-set version: the worker's job, also usable in-thread
 * (tests, small replays). Keeps the newest compiled version (an older one is compiled again for
 * a batch still in flight across a reload, and dropped with the next batch of the newest) and a
 * per-instance profiling flag for the time budget.
 */
export class BatchMatcher {
  private readonly versions = new Map<number, VersionMatchers>();
  /** The newest version run so far. */
  private newest = -1;
  private readonly header = new SyslogHeader();
  private profileNext = false;
  /** The running batch's route ids in the whole set (null: the whole set runs). */
  private ids: Int32Array | null = null;

  private versionFor(version: number, payloadJson: string): VersionMatchers {
    let v = this.versions.get(version);
    if (v === undefined) {
      const payload = JSON.parse(payloadJson) as PatternSetPayload;
      const enabled = payload.specs.map((s) => normalizeSpec(s)).filter((s) => s.enabled);
      const skip = new Uint8Array(enabled.length);
      for (const id of payload.skip) if (id >= 0 && id < skip.length) skip[id] = 1;
      v = { payload, enabled, skip, whole: null, routes: [] };
      this.versions.set(version, v);
      if (this.versions.size > 2) {
        const oldest = Math.min(...this.versions.keys());
        this.versions.delete(oldest);
      }
    }
    if (version >= this.newest) {
      // an older version's regexes share V8's compiled code with this one's (same sources), and
      // kept alive beside them they slow every match of the new set (measured 20-75 %): gone
      // with the next batch of the new version. A batch of the old one still in flight
      // compiles it again from its payload.
      this.newest = version;
      for (const k of this.versions.keys()) if (k < version) this.versions.delete(k);
    }
    return v;
  }

  /** The whole set's matcher of a version (compiled on first use). */
  matcherFor(version: number, payloadJson: string): LineMatcher {
    const v = this.versionFor(version, payloadJson);
    if (v.whole === null) {
      v.whole = new LineMatcher(new PatternSet(v.payload.version, v.enabled));
      v.whole.skip.set(v.skip);
    }
    return v.whole;
  }

  /** The matcher of one route of a version: its patterns alone, their ids in the whole set. */
  routeFor(version: number, payloadJson: string, route: number): RouteMatcher {
    const v = this.versionFor(version, payloadJson);
    const routes = v.payload.routes;
    if (routes === undefined || routes.length <= 1)
      return { matcher: this.matcherFor(version, payloadJson), ids: null };
    const r = route >= 0 && route < routes.length ? route : 0;
    let m = v.routes[r];
    if (m === undefined) {
      const names = new Set(routes[r]);
      const specs: PatternSpec[] = [];
      const ids: number[] = [];
      v.enabled.forEach((s, id) => {
        if (!names.has(s.name)) return;
        specs.push(s);
        ids.push(id);
      });
      const matcher = new LineMatcher(new PatternSet(v.payload.version, specs));
      for (let k = 0; k < ids.length; k++) matcher.skip[k] = v.skip[ids[k]];
      m = { matcher, ids: Int32Array.from(ids) };
      v.routes[r] = m;
    }
    return m;
  }

  run(task: MatchTask): MatchResult {
    // a version's first batch compiles it: that is not the patterns' matching time
    const { matcher, ids } = this.routeFor(task.version, task.patterns, task.route ?? 0);
    const t0 = performance.now();
    const n = this.versionFor(task.version, task.patterns).enabled.length;
    const own = matcher.set.patterns.length;
    const profiling = this.profileNext;
    matcher.profile = profiling ? new Float64Array(own) : null;
    const out = new RecordWriter();
    const tally: Tally = { lines: 0, truncated: 0, parseFailures: 0, perPattern: new Uint32Array(n) };
    this.ids = ids;
    const bytes = task.buf;
    let from = 0;
    while (from < bytes.length) {
      // cut at a line end (never inside a UTF-8 sequence); a longer line stays whole
      let to = bytes.length;
      if (to - from > DECODE_CHUNK) {
        const nl = bytes.lastIndexOf(10, from + DECODE_CHUNK - 1);
        if (nl >= from) to = nl + 1;
        else {
          const next = bytes.indexOf(10, from + DECODE_CHUNK);
          to = next < 0 ? bytes.length : next + 1;
        }
      }
      this.scan(decoder.decode(bytes.subarray(from, to)), matcher, task, tally, out);
      from = to;
    }
    const elapsedMs = performance.now() - t0;
    const slow: number[] = [];
    if (profiling && matcher.profile !== null) {
      const limitNs = (task.budgetMs / 2) * 1e6;
      for (let k = 0; k < own; k++) if (matcher.profile[k] > limitNs) slow.push(ids === null ? k : ids[k]);
      matcher.profile = null;
    }
    this.profileNext = elapsedMs > task.budgetMs;
    return {
      version: task.version,
      lines: tally.lines,
      truncated: tally.truncated,
      records: out.records.subarray(0, out.count * RECORD_SIZE),
      matches: out.count,
      texts: out.texts,
      ...(out.sessions !== null ? { sessions: out.sessions } : {}),
      perPattern: tally.perPattern,
      parseFailures: tally.parseFailures,
      elapsedMs,
      slow,
    };
  }

  /** The lines of one decoded chunk. */
  private scan(s: string, matcher: LineMatcher, task: MatchTask, tally: Tally, out: RecordWriter): void {
    const h = this.header;
    const maxLen = task.maxLen > 0 ? task.maxLen : Number.MAX_SAFE_INTEGER;
    const len = s.length;
    let i = 0;
    while (i < len) {
      let j = s.indexOf('\n', i);
      if (j < 0) j = len;
      // receivers hand over clean lines; replays hand over raw file chunks: normalise here
      let e = j;
      while (e > i && (s.charCodeAt(e - 1) === 13 || s.charCodeAt(e - 1) === 0)) e--;
      if (e === i) {
        i = j + 1;
        continue;
      }
      if (e - i > maxLen) {
        e = i + maxLen;
        tally.truncated++;
      }
      const format = parseSyslog(s, i, e, h);
      if (format === FORMAT_NONE) tally.parseFailures++;
      // lines whose tag no pattern can match (cron, kernel…) skip building the text
      const ids = matcher.candidatesAt(s, h.tagStart, h.tagEnd);
      if (ids.length > 0) {
        const body = matcher.set.needsBody ? patternText(s, h) : '';
        const raw = matcher.set.needsRaw ? s.slice(i, e) : '';
        // fail2ban's regexes (datepattern) see the line as a log file holds it: no <PRI>
        let line = '';
        let tsFrom = -1;
        let tsTo = -1;
        if (matcher.set.needsLine && format !== FORMAT_5424) {
          const ls = h.pri >= 0 ? s.indexOf('>', i) + 1 : i;
          line = s.slice(ls, e);
          // a `Mmm dd hh:mm:ss` stamp at the start (not an RFC 3339 one: its span differs)
          const c = s.charCodeAt(ls);
          if (h.tsStart === ls && c >= 65 && c <= 90) {
            tsFrom = 0;
            tsTo = h.tsEnd - ls;
          }
        }
        const own = matcher.match(body, raw, ids, line, tsFrom, tsTo);
        if (own >= 0) {
          const id = this.ids === null ? own : this.ids[own];
          let t = task.timeMs;
          if (task.lineTime) {
            const own = lineTimeMs(s, h, task.timeMs);
            if (!Number.isNaN(own)) t = own;
          }
          out.add(id, matcher.family, matcher.addr, tally.lines, t);
          out.texts.push(s.slice(i, Math.min(e, i + MATCH_TEXT_CHARS)));
          // a session's line counts once the main thread has decided it is a failure
          if (matcher.session !== '') out.session(matcher.session);
          else {
            if (out.sessions !== null) out.sessions.push('');
            tally.perPattern[id]++;
          }
        }
      }
      tally.lines++;
      i = j + 1;
    }
  }
}
