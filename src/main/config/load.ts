import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { EdgebanError } from '../../shared/errors.js';
import { checkJailsSection, defaultsOfBan, resolveConfigJails } from '../jails/config.js';
import type { JailInput } from '../jails/fields.js';
import { defaultConfig } from './defaults.js';
import { checkPattern, checkValue, describeValue, editDistance, SCHEMA } from './schema.js';
import type { Config } from './types.js';

/** One problem in the configuration: which key, where, what was expected and found. */
export interface ConfigProblem {
  key: string;
  /** The file, or `env FAIL2BAN_…` for an environment override. */
  source: string;
  line?: number;
  expected: string;
  found: string;
  /** The known key this one is probably a typo of. */
  hint?: string;
}

/** Invalid configuration (`E_CONFIG`); carries every problem, not only the first. */
export class ConfigError extends EdgebanError {
  readonly problems: ConfigProblem[];
  /** Warnings found on the way (said too: they often explain the errors). */
  readonly warnings: string[];
  constructor(problems: ConfigProblem[], warnings: string[] = []) {
    super('E_CONFIG', problems.map(formatProblem).join('\n'));
    this.problems = problems;
    this.warnings = warnings;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.source}:${p.line}` : p.source;
  const hint = p.hint ? ` (did you mean ${p.hint}?)` : '';
  if (p.found === UNKNOWN.found) return `${where}: ${p.key}: unknown key${hint}`;
  return `${where}: ${p.key}: expected ${p.expected}, found ${p.found}${hint}`;
}

/** Said of a key the schema does not know. */
const UNKNOWN = { expected: 'a known key', found: 'an unknown key' } as const;

export interface LoadedConfig {
  config: Config;
  /** The file read, or null when running on the embedded defaults. */
  path: string | null;
  /** Unknown keys and env names, said once each. */
  warnings: string[];
}

export interface LoadOptions {
  /** `--config PATH`: used as given; a missing file is an error. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Folders searched after the working folder (tests replace them). */
  systemPaths?: string[];
  /** `--allow-unknown`: unknown keys in the file are warnings instead of errors. */
  allowUnknown?: boolean;
}

export const SYSTEM_PATHS = ['/etc/edgeban/config.yaml', '/etc/fail2ban-haproxy/config.yaml'];

/** Which file to read: --config, EDGEBAN_CONFIG, ./config.yaml|yml, then the system paths. */
export function findConfigFile(opts: LoadOptions): string | null {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.path) return resolve(cwd, opts.path);
  if (env.EDGEBAN_CONFIG) return resolve(cwd, env.EDGEBAN_CONFIG);
  for (const name of ['config.yaml', 'config.yml']) {
    const p = resolve(cwd, name);
    if (existsSync(p)) return p;
  }
  for (const p of opts.systemPaths ?? SYSTEM_PATHS) if (existsSync(p)) return p;
  return null;
}

/**
 * Load, merge and validate the configuration. Throws ConfigError listing every problem (with
 * file and line where the YAML tells), never a stack trace for bad input.
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const path = findConfigFile(opts);
  let text = '';
  let raw: unknown = {};
  if (path !== null) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError([
        { key: '(file)', source: path, expected: 'a readable YAML file', found: e.code ?? e.message },
      ]);
    }
    try {
      // an empty file (or only comments) is an empty config, not an error
      raw = text.replace(/#.*$/gm, '').trim() === '' ? {} : (yaml.load(text, { filename: path }) ?? {});
    } catch (err) {
      const e = err as { reason?: string; mark?: { line: number }; message: string };
      throw new ConfigError([
        {
          key: '(syntax)',
          source: path,
          line: e.mark ? e.mark.line + 1 : undefined,
          expected: 'valid YAML',
          found: e.reason ?? e.message,
        },
      ]);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError([
        {
          key: '(root)',
          source: path,
          line: 1,
          expected: 'a mapping of sections',
          found: describeValue(raw),
        },
      ]);
    }
  }
  return fromObject(raw as Record<string, unknown>, {
    path,
    text,
    env: opts.env ?? process.env,
    allowUnknown: opts.allowUnknown,
  });
}

/** Validate a parsed object (file contents) plus env overrides against the schema. */
export function fromObject(
  raw: Record<string, unknown>,
  ctx: { path: string | null; text?: string; env?: NodeJS.ProcessEnv; allowUnknown?: boolean },
): LoadedConfig {
  const config = defaultConfig() as unknown as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const source = ctx.path ?? '(defaults)';
  const keyLine = ctx.text ? keyLines(ctx.text) : new Map<string, number>();
  // the line of a key, or of the nearest enclosing one the scan found (a flow-style list entry
  // has no line of its own)
  const lineOf = (key: string): number | undefined => {
    let k = key;
    for (;;) {
      const l = keyLine.get(k);
      if (l !== undefined) return l;
      const cut = Math.max(k.lastIndexOf('.'), k.lastIndexOf('['));
      if (cut <= 0) return undefined;
      k = k.slice(0, cut);
    }
  };
  const lines = { get: lineOf };
  const leafKeys = Object.keys(SCHEMA);
  const known = [...leafKeys, ...sections(leafKeys)];
  const unknownKey = (key: string) => {
    const hint = didYouMean(key, known) ?? undefined;
    const line = lineOf(key);
    if (ctx.allowUnknown)
      warnings.push(
        `${source}${line !== undefined ? `:${line}` : ''}: unknown key ${key}${hint ? ` (did you mean ${hint}?)` : ''}`,
      );
    else problems.push({ key, source, line, ...UNKNOWN, hint });
  };

  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k0, v] of Object.entries(obj)) {
      const k = k0.toLowerCase();
      const key = prefix ? `${prefix}.${k}` : k;
      if (Object.hasOwn(SCHEMA, key)) {
        apply(key, v, source, lines.get(key), false);
      } else if (leafKeys.some((l) => l.startsWith(`${key}.`))) {
        if (v === null || v === undefined) continue; // an empty section keeps its defaults
        if (typeof v !== 'object' || Array.isArray(v)) {
          problems.push({
            key,
            source,
            line: lines.get(key),
            expected: 'a section (mapping)',
            found: describeValue(v),
          });
        } else walk(v as Record<string, unknown>, key);
      } else unknownKey(key);
    }
  };

  let jailInputs: JailInput[] = [];
  const apply = (key: string, v: unknown, src: string, line: number | undefined, fromEnv: boolean) => {
    const spec = SCHEMA[key];
    if (spec.kind === 'jails') {
      const r = checkJailsSection(v);
      for (const p of r.problems)
        problems.push({ ...p, source: src, line: lineOf(p.key.toLowerCase()) ?? line });
      jailInputs = r.jails;
      return;
    }
    if (spec.kind === 'patterns') {
      let list = v;
      if (list === null || list === undefined) list = [];
      if (!Array.isArray(list)) {
        problems.push({ key, source: src, line, expected: 'a list of patterns', found: describeValue(v) });
        return;
      }
      const out: unknown[] = [];
      const names = new Set<string>();
      list.forEach((p, i) => {
        const r = checkPattern(p);
        for (const pr of r.problems) {
          const k = `${key}[${i}]${pr.field ? `.${pr.field}` : ''}`;
          problems.push({
            key: k,
            source: src,
            line: fromEnv ? line : lines.get(k),
            expected: pr.expected,
            found: pr.found,
            hint: pr.hint,
          });
        }
        const name = (r.value as { name?: string } | undefined)?.name;
        if (name && names.has(name))
          problems.push({
            key: `${key}[${i}].name`,
            source: src,
            line: lines.get(`${key}[${i}].name`),
            expected: 'a name not used by another pattern',
            found: JSON.stringify(name),
          });
        if (name) names.add(name);
        out.push(r.value);
      });
      setPath(config, key, out);
      return;
    }
    const r = checkValue(spec, v, fromEnv);
    if (r.ok) setPath(config, key, r.value);
    else
      problems.push({
        // an entry of a list is named and placed on its own line
        key: r.index !== undefined ? `${key}[${r.index}]` : key,
        source: src,
        line: r.index !== undefined && !fromEnv ? lines.get(`${key}[${r.index}]`) : line,
        expected: r.expected,
        found: spec.secret
          ? '(a secret value)'
          : describeValue(r.index !== undefined && Array.isArray(v) ? v[r.index] : v),
      });
  };

  walk(raw, '');

  // environment overrides: FAIL2BAN_SECTION_KEY (documented) and FAIL2BAN_SECTION.KEY (what viper read)
  const byUnderscore = new Map(leafKeys.map((k) => [k.replace(/\./g, '_').toUpperCase(), k]));
  for (const [name, value] of Object.entries(ctx.env ?? {})) {
    if (!name.startsWith('FAIL2BAN_') || value === undefined) continue;
    const rest = name.slice('FAIL2BAN_'.length);
    const key = rest.includes('.') ? rest.toLowerCase() : byUnderscore.get(rest.toUpperCase());
    if (!key || !Object.hasOwn(SCHEMA, key)) {
      const hint = rest.length <= 64 ? didYouMean(rest.toUpperCase(), [...byUnderscore.keys()]) : null;
      warnings.push(
        `env ${name}: matches no configuration key${hint ? ` (did you mean FAIL2BAN_${hint}?)` : ''}`,
      );
      continue;
    }
    const kind = SCHEMA[key].kind;
    if (kind === 'patterns' || kind === 'webhooks' || kind === 'jails' || kind === 'fileSources') {
      warnings.push(`env ${name}: ${key} cannot be set from the environment (a list for the config file)`);
      continue;
    }
    apply(key, value, `env ${name}`, undefined, true);
  }

  const c = config as unknown as Config;
  if (!c.spoa.enabled && !c.envoy.enabled && !c.nginx.enabled) {
    problems.push({
      key: 'spoa.enabled/envoy.enabled/nginx.enabled',
      source,
      line: lines.get('spoa.enabled') ?? lines.get('envoy.enabled') ?? lines.get('nginx.enabled'),
      expected: 'at least one proxy protocol enabled (SPOA, Envoy, or Nginx)',
      found: 'all three disabled',
    });
  }
  if (c.haproxy_map.enabled && c.haproxy_map.sockets.length === 0) {
    problems.push({
      key: 'haproxy_map.sockets',
      source,
      line: lines.get('haproxy_map.sockets') ?? lines.get('haproxy_map.enabled'),
      expected: 'at least one runtime API socket when haproxy_map.enabled is true',
      found: 'none',
    });
  }
  if (c.ban.max_ban_time < c.ban.initial_ban_time) {
    problems.push({
      key: 'ban.max_ban_time',
      source,
      line: lines.get('ban.max_ban_time'),
      expected: `at least ban.initial_ban_time`,
      found: `${c.ban.max_ban_time} ms`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems, warnings);
  // jails take what they do not set from `ban:` as finally set (file, then environment)
  const jails = resolveConfigJails(jailInputs, defaultsOfBan(c.ban), c.syslog.patterns);
  c.jails = jails.jails;
  for (const w of jails.warnings) warnings.push(`${source}: ${w}`);
  return { config: c, path: ctx.path, warnings };
}

function sections(keys: string[]): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    const parts = k.split('.');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return [...out];
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (let i = 0; i < parts.length - 1; i++) o = o[parts[i]] as Record<string, unknown>;
  o[parts[parts.length - 1]] = value;
}

/**
 * Line (1-based) of every `a.b.c:` key in a YAML text, by indentation, and of every block-list
 * entry as `a.b[0]` (its fields as `a.b[0].name`), so a problem inside a list points at the
 * entry. A scan, not a parse: it only has to agree with the parser on well-indented files.
 */
export function keyLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const stack: { indent: number; path: string; item: boolean }[] = [];
  const counters = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  const top = () => stack[stack.length - 1];
  // inside a block scalar (`key: |`): lines indented deeper than this are text, not keys
  let blockAt = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let col = 0;
    while (col < line.length && line[col] === ' ') col++;
    let rest = line.slice(col);
    if (blockAt >= 0) {
      if (rest === '' || col > blockAt) continue;
      blockAt = -1;
    }
    if (rest === '' || rest[0] === '#') continue;
    const lineIndent = col;
    // `- ` markers (possibly nested: `- - a`), each an entry of the list above it
    for (let dash = /^-(\s+|$)/.exec(rest); dash !== null; dash = /^-(\s+|$)/.exec(rest)) {
      while (stack.length > 0 && (top().indent > col || (top().indent === col && top().item))) stack.pop();
      const parent = stack.length > 0 ? top().path : '';
      const n = counters.get(parent) ?? 0;
      counters.set(parent, n + 1);
      const path = `${parent}[${n}]`;
      if (!out.has(path)) out.set(path, i + 1);
      stack.push({ indent: col, path, item: true });
      col += dash[0].length;
      rest = rest.slice(dash[0].length);
    }
    const m = KEY_RE.exec(rest);
    if (m) {
      while (stack.length > 0 && top().indent >= col) stack.pop();
      const parent = stack.length > 0 ? top().path : '';
      const name = keyText(m).toLowerCase();
      const path = parent ? `${parent}.${name}` : name;
      stack.push({ indent: col, path, item: false });
      // a key seen again starts its list afresh
      counters.delete(path);
      if (!out.has(path)) out.set(path, i + 1);
      rest = rest.slice(m[0].length);
    }
    if (/^\s*[|>][-+0-9]*\s*(#.*)?$/.test(rest)) blockAt = lineIndent;
  }
  return out;
}

/** A mapping key at the start of a line: double-quoted, single-quoted or plain, then `:`. */
const KEY_RE =
  /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|((?:[^\s#'"{}[\],&*!|>%@`?:-]|[?:-](?=\S))(?:[^:]|:(?!\s|$))*?))[ \t]*:(?=\s|$)/;

function keyText(m: RegExpExecArray): string {
  if (m[1] !== undefined) {
    try {
      return JSON.parse(`"${m[1]}"`) as string;
    } catch {
      return m[1];
    }
  }
  if (m[2] !== undefined) return m[2].replace(/''/g, "'");
  return m[3];
}

/** The closest known key, when it is close enough to be a typo. */
export function didYouMean(key: string, known: string[]): string | null {
  // a key this long is no typo, and the distance would cost its length times every key
  if (key.length > 64) return null;
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

/** The effective config for display, secrets masked. */
export function maskSecrets(config: Config): Config {
  const c = structuredClone(config);
  if (c.api.basic_auth.password) c.api.basic_auth.password = '********';
  for (const u of Object.keys(c.api.basic_auth.users)) c.api.basic_auth.users[u] = '********';
  c.api.tokens = c.api.tokens.map(() => '********');
  c.notify.webhooks = c.notify.webhooks.map((h) => ({
    ...h,
    // chat hook URLs carry their credential in the path
    url: h.url.replace(/^(https?:\/\/[^/]+\/).+$/, '$1********'),
    secret: h.secret ? '********' : '',
  }));
  c.database.dsn = c.database.dsn
    .replace(/(\/\/[^:/@]+:)[^@]*@/, '$1********@')
    .replace(/(password=)[^\s&]+/i, '$1********');
  return c;
}
