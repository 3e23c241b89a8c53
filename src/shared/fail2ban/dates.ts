import { pyToJs } from './pyre.js';
import { type Kind, TIME_RE, timeOf } from './strptime.js';

/**
 * fail2ban's date detector: finds the
 * timestamp in a line with strptime-style templates, so it can be cut out before the
 * failregexes run (they are written for the line without it) and give the line its time.
 */

/** fail2ban's default templates, in its order (DateDetectorCache.DEFAULT_TEMPLATES). */
const DEFAULT_TEMPLATES = [
  String.raw`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
  String.raw`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  String.raw`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
  String.raw`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
  String.raw`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
  String.raw`%m/%d/%ExY:%H:%M:%S`,
  String.raw`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
  'EPOCH',
  '{^LN-BEG}%H:%M:%S',
  '^<%m/%d/%Exy@%H:%M:%S>',
  '%Exy%Exm%Exd  ?%H:%M:%S',
  '%b %d, %ExY %I:%M:%S %p',
  '^%b-%d-%Exy %k:%M:%S',
  String.raw`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
  String.raw`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  String.raw`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
  'TAI64N',
];

const FIELD_RE = new RegExp(
  `%(%|${Object.keys(TIME_RE)
    .filter((k) => k.length > 1)
    .join('|')}|[${Object.keys(TIME_RE)
    .filter((k) => k.length === 1 && k !== '%')
    .join('')}])`,
  'g',
);

export interface DateTemplate {
  name: string;
  kind: Kind;
  re: RegExp;
  /** Anchored at the line start (or end): a match ends the search. */
  anchored: boolean;
}

const EPOCH = String.raw`\d{10,11}\b(?:\.\d{3,6})?`;
const LEPOCH = String.raw`\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`;

/** fail2ban's EPOCH: the number at the line's start, right after a leading `[`, or after `audit(`. */
function epochSpots(e: string): string {
  return String.raw`((?:^|(?<=^\[)(?=${e}\])|(?<=\baudit\()(?=${e}:\d+\)))${e})`;
}

/** The sources of the EPOCH and LEPOCH templates begin with these (line-dates.ts pre-checks them). */
export const EPOCH_SOURCES = [epochSpots(EPOCH), epochSpots(LEPOCH)];

/** DateTemplate.setRegex: word or line bounds, the date as group 1, `**` markers removed. */
function bound(
  regexIn: string,
  wordBegin: boolean | 'start',
  wordEnd: boolean,
): { src: string; anchored: boolean } {
  let regex = regexIn.trim();
  let gf = '';
  const g = /^\(\?[a-z]+\)/.exec(regex);
  if (g) {
    gf = g[0];
    regex = regex.slice(gf.length);
  }
  const boundBegin = wordBegin !== false && !/^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)/.test(regex);
  const boundEnd = wordEnd && !/(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$/.test(regex);
  if (!/(?<!\(\?)(?<!\\)\((?!\?)/.test(regex)) {
    const m = /^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$/s.exec(regex) as RegExpExecArray;
    regex = `${m[1]}(${m[2]})${m[3]}`;
  }
  let anchored = false;
  if (boundBegin) {
    if (wordBegin !== 'start') regex = String.raw`(?=^|\b|\W)${regex}`;
    else {
      regex = String.raw`^(?:\W{0,2})?${regex}`;
      anchored = true;
    }
  }
  if (boundEnd) regex += String.raw`(?=\b|\W|$)`;
  if (/^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))/.test(regex)) anchored = true;
  regex = regex.replace(/^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$/g, (m) => m.replace(/\*\*/g, ''));
  return { src: gf + regex, anchored };
}

function compile(py: string): RegExp {
  let ci = false;
  let s = py;
  const g = /^\(\?([a-z]+)\)/.exec(s);
  if (g) {
    ci = g[1].includes('i');
    s = s.slice(g[0].length);
  }
  // dates run on the backtracking engine with the `i` flag: only the failregexes need the
  // linear-engine discipline
  return new RegExp(pyToJs(s).source, ci ? 'i' : '');
}

/** What may precede a template's date in the line (see `leadOf`). */
export const LEAD_NONE = 0;
export const LEAD_NONWORD = 1;
export const LEAD_ANY = 2;

/**
 * What a template lets stand before the date it finds: nothing (`^(…)`), at most two non-word
 * characters (`^(?:\W{0,2})?(…)`, the `{^LN-BEG}` form), or anything. Read off the source, so
 * a form not recognised is LEAD_ANY. The date is group 1 (findDate), here the first `(`; it must
 * not repeat (its text would be the last repetition's) and no top-level `|` may bypass the `^`.
 */
export function leadOf(t: DateTemplate): number {
  const s = t.re.source;
  let open: number;
  let lead: number;
  if (/^\^\((?!\?)/.test(s)) {
    open = 1;
    lead = LEAD_NONE;
  } else if (s.startsWith(String.raw`^(?:\W{0,2})?(`) && s.charCodeAt(14) !== 63) {
    open = 13;
    lead = LEAD_NONWORD;
  } else return LEAD_ANY;
  const close = groupScan(s, open).end;
  if (close < 0 || /^[*+?{]/.test(s.slice(close + 1, close + 2)) || topLevelBar(s)) return LEAD_ANY;
  return lead;
}

/**
 * The group of a (JavaScript) regex source opened at `open`: the index of its closing `)` (-1:
 * not closed) and whether a `|` of its own, not of a nested group, comes before it.
 */
export function groupScan(s: string, open: number): { end: number; bar: boolean } {
  let depth = 0;
  let bar = false;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < s.length && s[i] !== ']'; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return { end: i, bar };
    else if (c === '|' && depth === 1) bar = true;
  }
  return { end: -1, bar };
}

/** `s` has a `|` outside every group (or can not be read: unbalanced). */
export function topLevelBar(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < s.length && s[i] !== ']'; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
    if (depth < 0) return true;
  }
  return depth !== 0;
}

/** A template from a `datepattern` line or a default one. */
export function makeTemplate(patternIn: string): DateTemplate {
  let pattern = patternIn;
  const key = pattern.includes('%') ? pattern : pattern.toUpperCase();
  if (/(?<!\\)\{L?EPOCH\}/i.test(pattern)) {
    const long = /\{LEPOCH\}/i.test(pattern);
    const src = pattern.replace(/(?<!\\)\{L?EPOCH\}/gi, `(${long ? LEPOCH : EPOCH})`);
    const b = bound(`(${src})`, true, true);
    return { name: pattern, kind: long ? 'lepoch' : 'epoch', re: compile(b.src), anchored: b.anchored };
  }
  if (key === 'EPOCH' || key === 'LEPOCH') {
    const e = key === 'EPOCH' ? EPOCH : LEPOCH;
    const src = epochSpots(e);
    const b = bound(src, false, true);
    return { name: key, kind: key === 'EPOCH' ? 'epoch' : 'lepoch', re: compile(b.src), anchored: false };
  }
  if (/^(?:\{\^LN-BEG\}|\^)L?EPOCH$/.test(key)) {
    const long = key.includes('LEPOCH');
    const b = bound(`(${long ? LEPOCH : EPOCH})`, 'start', true);
    return { name: key, kind: long ? 'lepoch' : 'epoch', re: compile(b.src), anchored: true };
  }
  if (/^(?:\{\^LN-BEG\}|\^)?TAI64N$/.test(key)) {
    const b = bound('@[0-9a-f]{24}', key === 'TAI64N' ? false : 'start', true);
    return { name: key, kind: 'tai64n', re: compile(b.src), anchored: b.anchored };
  }
  let wordBegin: boolean | 'start' = true;
  let wordEnd = true;
  if (pattern.startsWith('{UNB}')) {
    pattern = pattern.slice(5);
    wordBegin = false;
    wordEnd = false;
  }
  if (wordBegin && pattern.startsWith('{^LN-BEG}')) {
    pattern = pattern.slice(9);
    wordBegin = 'start';
  }
  let regex = pattern.replace(FIELD_RE, (_m, f: string) => TIME_RE[f]);
  if (/(?<!%)%[aAbBpc]/.test(pattern)) regex = `(?i)${regex}`;
  const b = bound(regex, wordBegin, wordEnd);
  return { name: patternIn, kind: 'pattern', re: compile(b.src), anchored: b.anchored };
}

let defaults: { anchored: DateTemplate[]; all: DateTemplate[]; plain: string[] } | null = null;

function defaultTemplates() {
  if (defaults !== null) return defaults;
  const first: DateTemplate[] = [];
  const rest: DateTemplate[] = [];
  for (const p of DEFAULT_TEMPLATES) {
    const t = makeTemplate(p);
    if (!p.startsWith('{^LN-BEG}') && !p.startsWith('^')) first.push(makeTemplate(`{^LN-BEG}${p}`));
    rest.push(t);
  }
  const all = [...first, ...rest];
  defaults = { anchored: all.filter((t) => t.anchored), all, plain: DEFAULT_TEMPLATES };
  return defaults;
}

/** The templates a filter's `datepattern` lines select (null: fail2ban's defaults). */
export function templatesFor(datepattern: readonly string[] | null): DateTemplate[] {
  const d = defaultTemplates();
  if (datepattern === null) return d.all;
  const out: DateTemplate[] = [];
  const names = new Set<string>();
  const add = (t: DateTemplate) => {
    if (names.has(t.name)) return;
    names.add(t.name);
    out.push(t);
  };
  for (const line of datepattern) {
    const key = line.includes('%') ? line : line.toUpperCase();
    if (key === '{^LN-BEG}') for (const t of d.anchored) add(t);
    else if (key === '{DEFAULT}') for (const t of d.all) add(t);
    else if (/(?<!\\)\{DATE\}/i.test(line)) {
      for (const p of d.plain) {
        if (!p.includes('%')) continue;
        const inner = p.replace(/^\{\^LN-BEG\}/, '');
        add(makeTemplate(line.replace(/(?<!\\)\{DATE\}/gi, () => inner)));
      }
    } else if (key === '{NONE}') add({ name: '{NONE}', kind: 'pattern', re: /^()/, anchored: true });
    else add(makeTemplate(line));
  }
  return out;
}

export interface DateMatch {
  /** Span of the date text in the line (group 1). */
  start: number;
  end: number;
  /** Unix ms, NaN when the text does not make a time. */
  timeMs: number;
  template: string;
}

/** What findDate keeps between lines of one log. */
export interface DateState {
  /** Template that found the last date. */
  last: number;
  /** Where its match started and ended in that line (-1: none yet). */
  at: number;
  end: number;
  /** The last date's matched text and template, and the time they made. */
  text: string;
  template: number;
  timeMs: number;
}

/**
 * Finds the line's date as fail2ban's detector does (matchTime): the template that found the
 * last line's date is tried first (logs keep one format) and kept when it matches anchored, at
 * the line's start, or where it matched last time (the same start and end: a log's lines put
 * their date at one place); else all are tried in order, where an anchored match or one at the
 * line's start ends the search and otherwise the earliest match wins.
 * `state.last` is updated with the template used.
 */
export function findDate(
  templates: readonly DateTemplate[],
  line: string,
  /** The reference time of year-less dates; NaN: only the span is wanted (no time is made). */
  nowMs: number = Date.now(),
  state: DateState = { last: -1, at: -1, end: -1, text: '', template: -1, timeMs: 0 },
): DateMatch | null {
  let best: { m: RegExpExecArray; i: number } | null = null;
  const hinted = state.last >= 0 && state.last < templates.length ? templates[state.last] : null;
  if (hinted !== null) {
    const m = hinted.re.exec(line);
    if (
      m !== null &&
      m[1] !== undefined &&
      (hinted.anchored || m.index <= 1 || (m.index === state.at && m.index + m[0].length === state.end))
    )
      best = { m, i: state.last };
  }
  if (best === null) {
    for (let i = 0; i < templates.length; i++) {
      const t = templates[i];
      const m = t.re.exec(line);
      if (m === null || m[1] === undefined) continue;
      if (t.anchored || m.index <= 1) {
        best = { m, i };
        break;
      }
      if (best === null || m.index < best.m.index) best = { m, i };
    }
  }
  if (best === null) return null;
  const { m, i } = best;
  const t = templates[i];
  state.last = i;
  state.at = m.index;
  state.end = m.index + m[0].length;
  const start = m.index + m[0].indexOf(m[1]);
  // consecutive lines often share their second: the same text gives the same time
  if (Number.isNaN(nowMs)) state.timeMs = Number.NaN;
  else if (state.template !== i || state.text !== m[0]) {
    state.template = i;
    state.text = m[0];
    state.timeMs = timeOf(t.kind, m, nowMs);
  }
  return { start, end: start + m[1].length, timeMs: state.timeMs, template: t.name };
}
