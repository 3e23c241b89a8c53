import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { Fail2banConfigError } from './errors.js';
import { parseIni } from './ini.js';

/** configparser's interpolation depth limit: `%(a)s` → `%(b)s` → … */
const MAX_DEPTH = 10;
/** Include nesting and files per read: a loop or a runaway tree stops with an error. */
const MAX_FILES = 256;

export type Options = ReadonlyMap<string, string>;

/**
 * fail2ban's configuration reader (SafeConfigParserWithIncludes): files read with their
 * `.local` sibling and `[INCLUDES] before/after` (recursively, relative to the including file),
 * merged in that order; a section read again keeps its overridden values under `KNOWN/<name>`
 * for `%(known/opt)s`. Values are interpolated with `%(name)s`, `%(section/name)s`,
 * `%(default/name)s`, `%(known/name)s` and `%%`.
 */
export class ConfigSet {
  readonly defaults = new Map<string, string>();
  readonly sections = new Map<string, Map<string, string>>();
  /** Files read, in merge order. */
  readonly files: string[] = [];

  /** Reads `path`, its `.local` (unless `withLocal` is false) and their includes. */
  read(path: string, withLocal = true): boolean {
    const order: string[] = [];
    this.includes(path, [], order, withLocal);
    for (const f of order) this.merge(f);
    return order.length > 0;
  }

  private includes(path: string, seen: string[], out: string[], withLocal = true): void {
    const candidates = [path];
    const local = `${path.replace(/\.conf$/, '')}.local`;
    if (withLocal && local !== path && existsSync(local)) candidates.push(local);
    for (const file of candidates) {
      if (!existsSync(file)) continue;
      if (out.length + seen.length > MAX_FILES)
        throw new Fail2banConfigError(file, 'too many included files');
      const ini = parseIni(readFileSync(file, 'utf8'), file);
      const inc = ini.sections.get('INCLUDES');
      const before: string[] = [];
      const after: string[] = [];
      for (const [opt, list] of [
        ['before', before],
        ['after', after],
      ] as const) {
        const v = inc?.get(opt);
        if (v === undefined) continue;
        for (const name of v.split('\n')) {
          if (name.trim() === '') continue;
          const r = isAbsolute(name) ? name : join(dirname(file), name);
          if (seen.includes(r)) continue;
          this.includes(r, [...seen, file], list);
        }
      }
      out.push(...before, file, ...after);
    }
  }

  private merge(file: string): void {
    const ini = parseIni(readFileSync(file, 'utf8'), file);
    this.files.push(file);
    for (const [k, v] of ini.defaults) this.defaults.set(k, v);
    for (const [name, opts] of ini.sections) {
      // `name?cond` sections (fail2ban's conditional options) are not used by filters or jails
      if (name.includes('?')) continue;
      const prev = this.sections.get(name);
      if (prev === undefined) {
        this.sections.set(name, new Map(opts));
        continue;
      }
      const known = this.sections.get(`KNOWN/${name}`) ?? new Map<string, string>();
      for (const k of opts.keys()) {
        const old = prev.get(k);
        if (old !== undefined) known.set(k, old);
      }
      this.sections.set(`KNOWN/${name}`, known);
      for (const [k, v] of opts) prev.set(k, v);
    }
  }

  has(section: string, option: string): boolean {
    return this.sections.get(section)?.has(option.toLowerCase()) === true;
  }

  /** Option names of a section (without the defaults). */
  options(section: string): string[] {
    return [...(this.sections.get(section)?.keys() ?? [])];
  }

  /** The raw value as configparser finds it: vars, then the section, then `[DEFAULT]`. */
  raw(section: string, option: string, vars?: Options): string | undefined {
    const o = option.toLowerCase();
    return vars?.get(o) ?? this.sections.get(section)?.get(o) ?? this.defaults.get(o);
  }

  /**
   * The interpolated value, or undefined when the option is missing. `sec/opt` names (also as
   * the option itself, as fail2ban's get_ex) look in that section, falling back to `[DEFAULT]`.
   */
  get(section: string, option: string, vars?: Options): string | undefined {
    const o = option.toLowerCase();
    const slash = /^([\w-]+)\/([^\s>]+)$/.exec(o);
    if (slash) {
      const v = this.lookupQualified(section, slash[1], slash[2]);
      // read as get_ex reads it: in that section, without the caller's variables
      const lower = slash[1];
      const target = lower === 'known' || lower === 'default' ? section : this.sectionName(slash[1]);
      if (v !== undefined)
        return this.interpolate(target ?? section, v, target === section ? vars : undefined, 1, option);
    }
    const v = this.raw(section, o, vars);
    return v === undefined ? undefined : this.interpolate(section, v, vars, 1, option);
  }

  private lookupQualified(section: string, sec: string, opt: string): string | undefined {
    const lower = sec.toLowerCase();
    if (lower === 'known') return this.sections.get(`KNOWN/${section}`)?.get(opt) ?? this.defaults.get(opt);
    if (lower === 'default') return this.defaults.get(opt);
    const s = this.sectionName(sec);
    return (s === undefined ? undefined : this.sections.get(s)?.get(opt)) ?? this.defaults.get(opt);
  }

  private sectionName(sec: string): string | undefined {
    const lower = sec.toLowerCase();
    return [...this.sections.keys()].find((n) => n === sec || n.toLowerCase() === lower);
  }

  private interpolate(section: string, value: string, vars: Options | undefined, depth: number, opt: string) {
    if (!value.includes('%')) return value;
    if (depth > MAX_DEPTH) {
      throw new Fail2banConfigError(
        `[${section}] ${opt}`,
        `interpolation deeper than ${MAX_DEPTH} levels (a %(name)s loop?)`,
      );
    }
    let out = '';
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (c !== '%') {
        out += c;
        continue;
      }
      if (value[i + 1] === '%') {
        out += '%';
        i++;
        continue;
      }
      const m = /^%\(([^)]+)\)s/.exec(value.slice(i, i + 200));
      if (m === null) {
        throw new Fail2banConfigError(
          `[${section}] ${opt}`,
          `bad interpolation syntax at "${value.slice(i, i + 20)}"`,
        );
      }
      const name = m[1].toLowerCase();
      if (name === '__name__') {
        out += section;
        i += m[0].length - 1;
        continue;
      }
      const slash = /^([\w-]+)\/(.+)$/.exec(name);
      const found =
        vars?.get(name) ??
        (slash ? this.lookupQualified(section, slash[1], slash[2]) : this.raw(section, name, vars));
      if (found === undefined) {
        throw new Fail2banConfigError(
          `[${section}] ${opt}`,
          `%(${m[1]})s refers to an option that does not exist`,
        );
      }
      out += this.interpolate(section, found, vars, depth + 1, opt);
      i += m[0].length - 1;
    }
    return out;
  }
}

/** Replacements per tag before `<a>` → `<b>` → `<a>` is called a loop (fail2ban's bound). */
const MAX_TAG_REPLACE = 25;

/**
 * fail2ban's `<tag>` substitution (substituteRecursiveTags): `<name>` in a value is replaced by
 * the option of that name, innermost first, so `<mdre-<mode>>` selects a variant. Tags that name
 * no option (`<HOST>`, `<F-USER>`) stay for the regex layer. `lookup` supplies options not in
 * `opts` (fail2ban's getCombOption).
 */
export function substituteTags(
  opts: Map<string, string>,
  lookup: (name: string) => string | undefined,
  ignore: ReadonlySet<string> = new Set(),
): Map<string, string> {
  const out = new Map(opts);
  const tagRe = /<([^ <>]+)>/g;
  for (const [key, orig] of out) {
    if (ignore.has(key)) continue;
    let value = orig;
    const counts = new Map<string, number>();
    tagRe.lastIndex = 0;
    let m = tagRe.exec(value);
    while (m !== null) {
      const tag = m[1];
      const n = counts.get(tag) ?? 0;
      if (tag === key || n > MAX_TAG_REPLACE) {
        throw new Fail2banConfigError(key, `<${tag}> refers to itself (directly or through other tags)`);
      }
      const repl = out.get(tag) ?? out.get(tag.toLowerCase()) ?? lookup(tag);
      if (repl === undefined || ignore.has(tag)) {
        m = tagRe.exec(value);
        continue;
      }
      value = value.split(`<${tag}>`).join(repl);
      counts.set(tag, n + 1);
      // from the start again: the replacement may complete an outer tag (`<mdre-<mode>>`)
      tagRe.lastIndex = 0;
      m = tagRe.exec(value);
    }
    out.set(key, value);
  }
  return out;
}
