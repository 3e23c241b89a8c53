/**
 * Syslog header parsing on a string slice, without allocation: fills offsets into a reusable
 * `SyslogHeader`. Understands RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`),
 * RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), the same without `<PRI>` (log files),
 * and RFC 3339 timestamps in the 3164 position (rsyslog's file format). A line with nothing
 * recognisable is all message (`format === FORMAT_NONE`).
 */

export const FORMAT_NONE = 0;
export const FORMAT_3164 = 3164;
export const FORMAT_5424 = 5424;

export class SyslogHeader {
  format = FORMAT_NONE;
  /** -1 when absent. */
  pri = -1;
  tsStart = -1;
  tsEnd = -1;
  hostStart = -1;
  hostEnd = -1;
  tagStart = -1;
  tagEnd = -1;
  pidStart = -1;
  pidEnd = -1;
  msgStart = 0;
  msgEnd = 0;
  /** True when the bytes `tag: ` are contiguous in the line and followed by the message. */
  tagColonContiguous = false;

  reset(start: number, end: number): void {
    this.format = FORMAT_NONE;
    this.pri = -1;
    this.tsStart = -1;
    this.tsEnd = -1;
    this.hostStart = -1;
    this.hostEnd = -1;
    this.tagStart = -1;
    this.tagEnd = -1;
    this.pidStart = -1;
    this.pidEnd = -1;
    this.msgStart = start;
    this.msgEnd = end;
    this.tagColonContiguous = false;
  }
}

const SP = 32;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Index of the month (0..11) spelled at `i`, or -1. One switch instead of a loop over names. */
function monthAt(s: string, i: number): number {
  const c0 = s.charCodeAt(i);
  const c1 = s.charCodeAt(i + 1);
  const c2 = s.charCodeAt(i + 2);
  // non-ASCII would alias in the key; past the end charCodeAt is NaN, which shifts to 0 (no month)
  if ((c0 | c1 | c2) > 127) return -1;
  switch ((c0 << 16) | (c1 << 8) | c2) {
    case 0x4a616e: // Jan
      return 0;
    case 0x466562: // Feb
      return 1;
    case 0x4d6172: // Mar
      return 2;
    case 0x417072: // Apr
      return 3;
    case 0x4d6179: // May
      return 4;
    case 0x4a756e: // Jun
      return 5;
    case 0x4a756c: // Jul
      return 6;
    case 0x417567: // Aug
      return 7;
    case 0x536570: // Sep
      return 8;
    case 0x4f6374: // Oct
      return 9;
    case 0x4e6f76: // Nov
      return 10;
    case 0x446563: // Dec
      return 11;
    default:
      return -1;
  }
}

/**
 * Where the `hh:mm:ss` of a `Mmm dd hh:mm:ss` timestamp at `i` starts: the day is two digits,
 * space-padded (` 4`), or one digit unpadded (`Aug 4 16:47:52`, which many file writers use).
 * -1 when there is no such day.
 */
function bsdClockAt(s: string, i: number): number {
  const d1 = s.charCodeAt(i + 4);
  const d2 = s.charCodeAt(i + 5);
  if ((d1 === SP || isDigit(d1)) && isDigit(d2) && s.charCodeAt(i + 6) === SP) return i + 7;
  if (isDigit(d1) && d2 === SP) return i + 6;
  return -1;
}

/** End of a `Mmm dd hh:mm:ss` (day space-padded or one digit) timestamp at `i`, or -1. */
function bsdTimestampEnd(s: string, i: number, end: number): number {
  if (i + 14 > end || monthAt(s, i) < 0 || s.charCodeAt(i + 3) !== SP) return -1;
  const c = bsdClockAt(s, i);
  if (c < 0 || c + 8 > end) return -1;
  if (!isDigit(s.charCodeAt(c)) || s.charCodeAt(c + 2) !== 58 || s.charCodeAt(c + 5) !== 58) return -1;
  let j = c + 8;
  // optional fractional seconds / year some senders add ("Oct 11 22:14:15.123")
  if (j < end && s.charCodeAt(j) === 46) {
    j++;
    while (j < end && isDigit(s.charCodeAt(j))) j++;
  }
  return j;
}

/** End of an RFC 3339 timestamp (`2026-11-24T16:05:41.123+00:00`) at `i`, or -1. */
function isoTimestampEnd(s: string, i: number, end: number): number {
  if (i + 19 > end) return -1;
  if (!isDigit(s.charCodeAt(i)) || s.charCodeAt(i + 4) !== 45 || s.charCodeAt(i + 7) !== 45) return -1;
  const t = s.charCodeAt(i + 10);
  if (t !== 84 && t !== 116) return -1;
  let j = i + 10;
  while (j < end && s.charCodeAt(j) !== SP) j++;
  return j;
}

/** Next space at or after `i` (or `end`). */
function tokenEnd(s: string, i: number, end: number): number {
  while (i < end && s.charCodeAt(i) !== SP) i++;
  return i;
}

/**
 * Parse `s[start, end)` into `h`. Returns h.format. Nothing at or past `end` is read (the slice
 * may be one line of a batch: the next line must not leak into this one's fields).
 */
export function parseSyslog(s: string, start: number, end: number, h: SyslogHeader): number {
  h.reset(start, end);
  let i = start;
  if (i < end && s.charCodeAt(i) === 60 /* < */) {
    let pri = 0;
    let j = i + 1;
    while (j < end && j < i + 5 && isDigit(s.charCodeAt(j))) pri = pri * 10 + (s.charCodeAt(j++) - 48);
    if (j > i + 1 && j < end && s.charCodeAt(j) === 62 /* > */ && pri <= 191) {
      h.pri = pri;
      i = j + 1;
      // RFC 5424: VERSION SP
      if (i + 1 < end && isDigit(s.charCodeAt(i)) && s.charCodeAt(i + 1) === SP)
        return parse5424(s, i + 2, end, h);
      if (
        i + 2 < end &&
        isDigit(s.charCodeAt(i)) &&
        isDigit(s.charCodeAt(i + 1)) &&
        s.charCodeAt(i + 2) === SP
      ) {
        return parse5424(s, i + 3, end, h);
      }
    } else {
      return FORMAT_NONE;
    }
  }
  let tsEnd = bsdTimestampEnd(s, i, end);
  if (tsEnd < 0) tsEnd = isoTimestampEnd(s, i, end);
  if (tsEnd < 0) {
    // `<PRI>` and then no timestamp: some senders go straight to the tag
    if (h.pri < 0) return FORMAT_NONE;
    h.format = FORMAT_3164;
    parseTagAndMessage(s, i, end, h);
    return h.format;
  }
  h.format = FORMAT_3164;
  h.tsStart = i;
  h.tsEnd = tsEnd;
  i = tsEnd;
  while (i < end && s.charCodeAt(i) === SP) i++;
  // HOST is optional in practice: a first token that already looks like `tag:` / `tag[pid]:` is the tag
  const tEnd = tokenEnd(s, i, end);
  const looksLikeTag =
    (tEnd > i && s.charCodeAt(tEnd - 1) === 58) ||
    hasBracket(s, i, tEnd) ||
    (tEnd + 1 < end && s.charCodeAt(tEnd + 1) === 91); /* `sogod [12]:` */
  if (!looksLikeTag && tEnd < end) {
    h.hostStart = i;
    h.hostEnd = tEnd;
    i = tEnd + 1;
  }
  parseTagAndMessage(s, i, end, h);
  return h.format;
}

function hasBracket(s: string, i: number, end: number): boolean {
  for (; i < end; i++) if (s.charCodeAt(i) === 91) return true;
  return false;
}

/** `TAG[PID]: MSG`, `TAG: MSG`, `TAG [PID]: MSG` (SOGo); otherwise all message. */
function parseTagAndMessage(s: string, i: number, end: number, h: SyslogHeader): void {
  const tagStart = i;
  let j = i;
  while (j < end && j - i <= 64) {
    const c = s.charCodeAt(j);
    if (c === 58 || c === 91 || c === SP) break;
    j++;
  }
  const tagEnd = j;
  if (tagEnd === tagStart || j >= end) {
    h.msgStart = i;
    return;
  }
  let c = s.charCodeAt(j);
  let pidStart = -1;
  let pidEnd = -1;
  if (c === SP && j + 1 < end && s.charCodeAt(j + 1) === 91) {
    j++;
    c = 91;
  }
  if (c === 91) {
    pidStart = j + 1;
    let k = pidStart;
    while (k < end && s.charCodeAt(k) !== 93) k++;
    if (k >= end || k - pidStart > 32) {
      h.msgStart = i;
      return;
    }
    pidEnd = k;
    j = k + 1;
    c = j < end ? s.charCodeAt(j) : -1;
  }
  if (c !== 58) {
    h.msgStart = i;
    return;
  }
  h.tagStart = tagStart;
  h.tagEnd = tagEnd;
  h.pidStart = pidStart;
  h.pidEnd = pidEnd;
  j++;
  if (j < end && s.charCodeAt(j) === SP) j++;
  h.msgStart = j;
  h.tagColonContiguous = pidStart < 0 && j === tagEnd + 2 && s.charCodeAt(tagEnd + 1) === SP;
}

function parse5424(s: string, i: number, end: number, h: SyslogHeader): number {
  h.format = FORMAT_5424;
  // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, each `-` when absent; a short line stops at `end`
  let e = tokenEnd(s, i, end);
  if (e > i && !(e === i + 1 && s.charCodeAt(i) === 45)) {
    h.tsStart = i;
    h.tsEnd = e;
  }
  i = Math.min(e + 1, end);
  e = tokenEnd(s, i, end);
  if (e > i && !(e === i + 1 && s.charCodeAt(i) === 45)) {
    h.hostStart = i;
    h.hostEnd = e;
  }
  i = Math.min(e + 1, end);
  e = tokenEnd(s, i, end);
  if (e > i && !(e === i + 1 && s.charCodeAt(i) === 45)) {
    h.tagStart = i;
    h.tagEnd = e;
  }
  i = Math.min(e + 1, end);
  e = tokenEnd(s, i, end);
  if (e > i && !(e === i + 1 && s.charCodeAt(i) === 45)) {
    h.pidStart = i;
    h.pidEnd = e;
  }
  i = Math.min(e + 1, end);
  e = tokenEnd(s, i, end); // MSGID
  i = Math.min(e + 1, end);
  // STRUCTURED-DATA: `-` or one or more [id k="v"…] with \] \" escapes in values
  if (i < end && s.charCodeAt(i) === 45) {
    i++;
  } else {
    while (i < end && s.charCodeAt(i) === 91) {
      let inQuote = false;
      i++;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (c === 92 /* \ */) {
          i += 2;
          continue;
        }
        if (c === 34) inQuote = !inQuote;
        else if (c === 93 && !inQuote) break;
        i++;
      }
      i++;
    }
  }
  if (i < end && s.charCodeAt(i) === SP) i++;
  if (i < end && s.charCodeAt(i) === 0xfeff) i++; // BOM before a UTF-8 MSG
  h.msgStart = Math.min(i, end);
  return FORMAT_5424;
}

/**
 * The text patterns see: `tag: message` (pid dropped, so `dovecot:`-style patterns work for
 * `dovecot[123]:` lines too), or the message alone when there is no tag. A slice of `s` when the
 * line already reads that way (no copy), a new string otherwise.
 */
export function patternText(s: string, h: SyslogHeader): string {
  if (h.tagStart < 0) return s.slice(h.msgStart, h.msgEnd);
  if (h.tagColonContiguous) return s.slice(h.tagStart, h.msgEnd);
  return `${s.slice(h.tagStart, h.tagEnd)}: ${s.slice(h.msgStart, h.msgEnd)}`;
}

/**
 * The line's own time in unix ms, for replays. RFC 3164 has no year: the year of `refMs` is used,
 * or the one before when that would put the line more than a day in the future (log files read
 * in January). Local time, as syslog daemons write it. Also understands a leading
 * `YYYY/MM/DD hh:mm:ss` (nginx error logs). NaN when the line has no time.
 */
export function lineTimeMs(s: string, h: SyslogHeader, refMs: number): number {
  if (h.tsStart >= 0) {
    const ts = s.slice(h.tsStart, h.tsEnd);
    const m = monthAt(s, h.tsStart);
    if (m >= 0) {
      const c = bsdClockAt(s, h.tsStart);
      const day = Number(s.slice(h.tsStart + 4, c - 1).trim());
      const hh = Number(s.slice(c, c + 2));
      const mm = Number(s.slice(c + 3, c + 5));
      const ss = Number(s.slice(c + 6, h.tsEnd));
      let year = new Date(refMs).getFullYear();
      let t = new Date(year, m, day, hh, mm, 0, 0).getTime() + Math.round(ss * 1000);
      if (t > refMs + 86_400_000) {
        year--;
        t = new Date(year, m, day, hh, mm, 0, 0).getTime() + Math.round(ss * 1000);
      }
      return t;
    }
    return Date.parse(ts);
  }
  // nginx error log: 2026/11/24 16:05:41
  const i = h.msgStart;
  if (
    h.msgEnd - i >= 19 &&
    isDigit(s.charCodeAt(i)) &&
    s.charCodeAt(i + 4) === 47 &&
    s.charCodeAt(i + 7) === 47 &&
    s.charCodeAt(i + 10) === SP &&
    s.charCodeAt(i + 13) === 58
  ) {
    return new Date(
      Number(s.slice(i, i + 4)),
      Number(s.slice(i + 5, i + 7)) - 1,
      Number(s.slice(i + 8, i + 10)),
      Number(s.slice(i + 11, i + 13)),
      Number(s.slice(i + 14, i + 16)),
      Number(s.slice(i + 17, i + 19)),
    ).getTime();
  }
  return Number.NaN;
}
