import { expandConditionals, pyToJs, topLevelBar } from '../../shared/fail2ban/pyre.js';
import { compilePattern, type PatternSpec } from '../../shared/patterns/compile.js';
import { type FilterDef, readFilter } from './filter.js';
import { type JailDef, readJails } from './jails.js';
import { linearOk } from './regex.js';
import { expandTags } from './tags.js';

/** What happened to one failregex of a filter. */
export interface RegexImport {
  index: number;
  regex: string;
  /** Names of the edgeban patterns made from it (several when it had conditional groups). */
  patterns: string[];
  backtracking: string[];
  /** Why it was not imported (null: imported). */
  reason: string | null;
}

export interface ImportedJail {
  jail: JailDef;
  filter: FilterDef | null;
  /** The filter could not be read at all. */
  error: string | null;
  patterns: PatternSpec[];
  regexes: RegexImport[];
  /** The filter's ignoreregex entries: how many, and those that could not be translated (why). */
  ignoreregex: number;
  ignoreFailed: { index: number; reason: string }[];
}

/** The typed intermediate of `edgeban import-fail2ban`. */
export interface Fail2banImport {
  dir: string;
  jails: ImportedJail[];
  /** ignoreip entries that are not addresses (host names) and were left out. */
  skippedIgnoreIp: string[];
  whitelist: string[];
}

/** Capture tags a session filter's patterns keep: what the live session rules read. */
const SESSION_GROUPS: ReadonlySet<string> = new Set(['mlfid', 'user', 'alt_user', 'mlfforget', 'mlfgained']);

/** The filter ties lines into sessions (`<F-MLFID>`): its lines are decided with the ones before. */
export function isSessionFilter(def: FilterDef): boolean {
  return (def.prefregex ?? '').includes('<F-MLFID>') || def.failregex.some((r) => r.includes('<F-MLFID>'));
}

/** A failregex as one edgeban pattern source per conditional variant (prefregex folded in). */
function translateFailregex(
  def: FilterDef,
  regex: string,
  needAddress = true,
  session = false,
): { sources: string[]; backtracking: string[] } {
  let combined = regex;
  if (def.prefregex !== null) {
    const m = /<F-CONTENT>[\s\S]*?<\/F-CONTENT>/.exec(def.prefregex);
    if (m !== null) {
      const body = regex.startsWith('^') ? regex.slice(1) : `.*?${regex}`;
      // unwrapped when it can be: the matcher's literal prefilter only sees the top level;
      // fail2ban searches the content, so a match may end before it does: the rest is `.*`
      const wrapped = `${topLevelBar(body) >= 0 ? `(?:${body})` : body}.*`;
      combined = def.prefregex.slice(0, m.index) + wrapped + def.prefregex.slice(m.index + m[0].length);
    }
  }
  const tags = expandTags(combined, 'edgeban', true, session ? SESSION_GROUPS : undefined);
  // a session's failure may name no address: it comes from the session's other lines
  if (needAddress && !session && !tags.hasAddress)
    throw new Error('no address tag (<HOST>, <ADDR>, <IP4>, <IP6>): edgeban bans addresses');
  const back = new Set<string>();
  const variants = expandConditionals(tags.source);
  if (variants.length > 1) back.add('conditional group (one pattern per branch)');
  const sources = variants.map((v) => {
    const js = pyToJs(v.source);
    for (const b of js.backtracking) back.add(b);
    // counts nested past what the linear engine takes: run on the backtracking one, guarded
    if (js.backtracking.length === 0 && !linearOk(js.source, '')) back.add('nested counted repetition');
    return js.source;
  });
  return { sources, backtracking: [...back] };
}

/**
 * A filter's ignoreregex as JS regexes, searched in the same text as its failregexes (fail2ban
 * matches them against the prefregex's content, or the line): one source per conditional variant.
 */
export function filterIgnores(def: FilterDef): {
  sources: string[];
  backtracking: boolean;
  failed: { index: number; reason: string }[];
} {
  const sources: string[] = [];
  const failed: { index: number; reason: string }[] = [];
  let backtracking = false;
  def.ignoreregex.forEach((regex, index) => {
    try {
      // searched, not anchored, unless it anchors itself
      const t = translateFailregex(def, regex, false);
      if (t.backtracking.length > 0) backtracking = true;
      sources.push(...t.sources);
    } catch (err) {
      failed.push({ index, reason: (err as Error).message });
    }
  });
  return { sources, backtracking, failed };
}

function importRegex(
  def: FilterDef,
  regex: string,
  index: number,
  prefix: string,
  ignores: ReturnType<typeof filterIgnores>,
): { r: RegexImport; specs: PatternSpec[] } {
  const r: RegexImport = { index, regex, patterns: [], backtracking: [], reason: null };
  const specs: PatternSpec[] = [];
  // a <F-NOFAIL> / <F-MLFGAINED> part marks lines that are not failures; a regex that is
  // nothing but such a line is not imported, unless the filter has sessions, which it informs
  const session = isSessionFilter(def);
  const context = regex.replace(/<F-(NOFAIL|MLFGAINED)>[\s\S]*?<\/F-\1>/g, '(?!)');
  if (!session && /^\^?(?:<F-[A-Z]+>)*\(\?!\)/.test(context)) {
    r.reason = 'context line (<F-NOFAIL>/<F-MLFGAINED>): fail2ban does not count it as a failure';
    return { r, specs };
  }
  if (regex.includes('<SKIPLINES>') || def.maxlines > 1) {
    r.reason = `spans several lines (maxlines ${def.maxlines}): edgeban matches one line at a time`;
    return { r, specs };
  }
  try {
    // inside a regex, a NOFAIL part that matches makes the line no failure, as in fail2ban, where
    // it is tried before the branches beside it (`(?:<F-NOFAIL>publickey</F-NOFAIL>|\S+)`): it
    // becomes a `nofail` group, which the matcher reads so. Without sessions a MLFGAINED part
    // never matches; with them it is a group the session rules read.
    let k = 0;
    let marked = regex.replace(
      /<F-NOFAIL>([\s\S]*?)<\/F-NOFAIL>/g,
      (_m, body: string) => `(?P<nofail_${k++}>${body})`,
    );
    if (!session) marked = marked.replace(/<F-MLFGAINED>[\s\S]*?<\/F-MLFGAINED>/g, '(?!)');
    const t = translateFailregex(def, marked, true, session);
    r.backtracking = t.backtracking;
    t.sources.forEach((source, k) => {
      const name = `${prefix}-${index + 1}${t.sources.length > 1 ? String.fromCharCode(97 + k) : ''}`;
      const spec: PatternSpec = {
        name,
        regex: source,
        ip_group: 'ip',
        severity: 1,
        description: `fail2ban ${def.name} failregex ${index + 1}`,
        enabled: true,
        raw: false,
        ...(t.backtracking.length > 0 || (ignores.sources.length > 0 && ignores.backtracking)
          ? { backtracking: true }
          : {}),
        ...(ignores.sources.length > 0 ? { ignoreregex: ignores.sources } : {}),
        // a log file's own date (not a syslog header) is cut out first, as fail2ban does
        datepattern: def.datepattern ?? ['{DEFAULT}'],
      };
      compilePattern(spec, 0);
      specs.push(spec);
      r.patterns.push(name);
    });
  } catch (err) {
    r.reason = (err as Error).message;
    r.patterns = [];
    return { r, specs: [] };
  }
  return { r, specs };
}

/** One filter's failregexes as edgeban patterns named `PREFIX-N`, with what happened to each. */
export function filterPatterns(
  def: FilterDef,
  prefix: string,
): { patterns: PatternSpec[]; regexes: RegexImport[] } {
  const patterns: PatternSpec[] = [];
  const regexes: RegexImport[] = [];
  const ignores = filterIgnores(def);
  def.failregex.forEach((regex, i) => {
    const { r, specs } = importRegex(def, regex, i, prefix, ignores);
    regexes.push(r);
    patterns.push(...specs);
  });
  return { patterns, regexes };
}

/** Reads the tree: each selected jail (the enabled ones by default), its filter and settings. */
export function importFail2ban(dir: string, only: readonly string[] | null = null): Fail2banImport {
  const all = readJails(dir);
  const chosen = only === null ? all.filter((j) => j.enabled) : all.filter((j) => only.includes(j.name));
  const jails: ImportedJail[] = [];
  const ignore = new Set<string>();
  for (const jail of chosen) {
    const out: ImportedJail = {
      jail,
      filter: null,
      error: null,
      patterns: [],
      regexes: [],
      ignoreregex: 0,
      ignoreFailed: [],
    };
    jails.push(out);
    for (const ip of jail.ignoreip) ignore.add(ip);
    try {
      const def = readFilter(dir, jail.filter);
      out.filter = def;
      out.ignoreregex = def.ignoreregex.length;
      out.ignoreFailed = filterIgnores(def).failed;
      const made = filterPatterns(def, `f2b-${jail.name}`);
      out.regexes.push(...made.regexes);
      out.patterns.push(...made.patterns);
    } catch (err) {
      out.error = (err as Error).message;
    }
  }
  const whitelist: string[] = [];
  const skipped: string[] = [];
  for (const ip of ignore) {
    if (/^[0-9a-fA-F:.]+(?:\/\d{1,3})?$/.test(ip)) whitelist.push(ip);
    else skipped.push(ip);
  }
  return { dir, jails, skippedIgnoreIp: skipped, whitelist };
}
