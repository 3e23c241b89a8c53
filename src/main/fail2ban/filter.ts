import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigSet, substituteTags } from './config.js';
import { Fail2banConfigError, Fail2banNotFoundError } from './errors.js';

/** A fail2ban filter with every option resolved, before its regexes are translated. */
export interface FilterDef {
  name: string;
  /** Files read, in merge order (the filter, its .local, common.conf…). */
  files: string[];
  prefregex: string | null;
  failregex: string[];
  ignoreregex: string[];
  /** Lines of `datepattern` (one template each), or null for fail2ban's defaults. */
  datepattern: string[] | null;
  maxlines: number;
  journalmatch: string[];
  /** Options the filter was read with (`mode`, `logtype`…), after its `[Init]`. */
  init: Record<string, string>;
}

const DEFINITION_OPTS = ['prefregex', 'failregex', 'ignoreregex', 'maxlines', 'datepattern', 'journalmatch'];

/**
 * `sshd[mode=aggressive, publickey="invalid"]` → name and options, as jails write them.
 * Values may be quoted with `"` or `'`.
 */
export function parseFilterSpec(spec: string): { name: string; opts: Record<string, string> } {
  const m = /^\s*([^[\s]+)\s*(?:\[(.*)\])?\s*$/s.exec(spec);
  if (m === null) throw new Fail2banConfigError('filter', `cannot read filter ${JSON.stringify(spec)}`);
  const opts: Record<string, string> = {};
  const body = m[2] ?? '';
  const re = /\s*([\w.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,]*)\s*(?:,|$)/gy;
  let a: RegExpExecArray | null = re.exec(body);
  while (a !== null && a[0] !== '') {
    let v = a[2];
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    opts[a[1].toLowerCase()] = v;
    a = re.exec(body);
  }
  return { name: m[1], opts };
}

/** Where a filter name resolves: `DIR/filter.d/NAME.conf` (or the path itself when it is a file). */
export function filterPath(dir: string, name: string): string {
  if (name.includes('/') || name.endsWith('.conf') || name.endsWith('.local')) {
    if (existsSync(name)) return name;
  }
  const p = join(dir, 'filter.d', `${name}.conf`);
  const local = join(dir, 'filter.d', `${name}.local`);
  if (!existsSync(p) && !existsSync(local)) {
    throw new Fail2banNotFoundError(`no filter ${JSON.stringify(name)} in ${join(dir, 'filter.d')}`);
  }
  return p;
}

/**
 * Reads a filter as fail2ban's FilterReader does: `[Definition]` options interpolated with the
 * jail's options as variables, `[Init]` options added where the jail gave none, then `<tag>`
 * substitution over the lot (which is how `%(mode)s` / `<mode>` pick a variant).
 */
export function readFilter(dir: string, spec: string, extra: Record<string, string> = {}): FilterDef {
  const { name, opts } = parseFilterSpec(spec);
  const path = filterPath(dir, name);
  const cfg = new ConfigSet();
  cfg.read(path);
  if (cfg.files.length === 0) throw new Fail2banNotFoundError(`cannot read ${path}`);
  const pOpts = new Map<string, string>(Object.entries({ ...extra, ...opts }));
  const combined = new Map<string, string>();
  for (const opt of DEFINITION_OPTS) {
    const v = cfg.get('Definition', opt, pOpts);
    if (v !== undefined) combined.set(opt, v);
  }
  const init = new Map(pOpts);
  for (const opt of cfg.options('Init')) {
    const v = cfg.get('Init', opt, pOpts);
    if (v === undefined) continue;
    if (!opt.startsWith('known/')) init.set(`known/${opt}`, v);
    if (!init.has(opt)) init.set(opt, v);
  }
  for (const [k, v] of init) combined.set(k, v);
  const lookup = (tag: string): string | undefined => {
    try {
      return cfg.get('Definition', tag, pOpts);
    } catch {
      return undefined;
    }
  };
  const r = substituteTags(combined, lookup);
  const lines = (v: string | undefined) => (v ?? '').split('\n').filter((x) => x !== '');
  const maxlines = Number(r.get('maxlines') ?? '1');
  const dp = r.get('datepattern');
  return {
    name: basename(name).replace(/\.(conf|local)$/, ''),
    files: cfg.files,
    prefregex: r.get('prefregex')?.trim() ? (r.get('prefregex') as string) : null,
    failregex: lines(r.get('failregex')),
    ignoreregex: lines(r.get('ignoreregex')),
    datepattern: dp === undefined || dp.trim() === '' ? null : lines(dp),
    maxlines: Number.isInteger(maxlines) && maxlines > 0 ? Math.min(maxlines, 1000) : 1,
    journalmatch: lines(r.get('journalmatch')),
    init: Object.fromEntries([...init].filter(([k]) => !k.startsWith('known/'))),
  };
}
