import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { EdgebanError } from '../../shared/errors.js';
import { defaultConfig } from './defaults.js';
import { checkPattern, checkValue, describeValue, SCHEMA } from './schema.js';
import type { Config } from './types.js';

/** One problem in the configuration: which key, where, what was expected and found. */
export interface ConfigProblem {
  key: string;
  /** The file, or `env FAIL2BAN_…` for an environment override. */
  source: string;
  line?: number;
  expected: string;
  found: string;
}

/** Invalid configuration (`E_CONFIG`); carries every problem, not only the first. */
export class ConfigError extends EdgebanError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super('E_CONFIG', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.source}:${p.line}` : p.source;
  return `${where}: ${p.key}: expected ${p.expected}, found ${p.found}`;
}

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
  return fromObject(raw as Record<string, unknown>, { path, text, env: opts.env ?? process.env });
}

/** Validate a parsed object (file contents) plus env overrides against the schema. */
export function fromObject(
  raw: Record<string, unknown>,
  ctx: { path: string | null; text?: string; env?: NodeJS.ProcessEnv },
): LoadedConfig {
  const config = defaultConfig() as unknown as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const source = ctx.path ?? '(defaults)';
  const lines = ctx.text ? keyLines(ctx.text) : new Map<string, number>();
  const leafKeys = Object.keys(SCHEMA);

  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k0, v] of Object.entries(obj)) {
      const k = k0.toLowerCase();
      const key = prefix ? `${prefix}.${k}` : k;
      const spec = SCHEMA[key];
      if (spec) {
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
      } else {
        const hint = didYouMean(key, [...leafKeys, ...sections(leafKeys)]);
        warnings.push(
          `${source}${lines.has(key) ? `:${lines.get(key)}` : ''}: unknown key ${key}${hint ? ` (did you mean ${hint}?)` : ''}`,
        );
      }
    }
  };

  const apply = (key: string, v: unknown, src: string, line: number | undefined, fromEnv: boolean) => {
    const spec = SCHEMA[key];
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
          problems.push({
            key: `${key}[${i}]${pr.field ? `.${pr.field}` : ''}`,
            source: src,
            line,
            expected: pr.expected,
            found: pr.found,
          });
        }
        const name = (r.value as { name?: string } | undefined)?.name;
        if (name && names.has(name))
          problems.push({
            key: `${key}[${i}].name`,
            source: src,
            line,
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
        key,
        source: src,
        line,
        expected: r.expected,
        found: spec.secret ? '(a secret value)' : describeValue(v),
      });
  };

  walk(raw, '');

  // environment overrides: FAIL2BAN_SECTION_KEY (documented) and FAIL2BAN_SECTION.KEY (what viper read)
  const byUnderscore = new Map(leafKeys.map((k) => [k.replace(/\./g, '_').toUpperCase(), k]));
  for (const [name, value] of Object.entries(ctx.env ?? {})) {
    if (!name.startsWith('FAIL2BAN_') || value === undefined) continue;
    const rest = name.slice('FAIL2BAN_'.length);
    const key = rest.includes('.') ? rest.toLowerCase() : byUnderscore.get(rest.toUpperCase());
    if (!key || !SCHEMA[key]) {
      warnings.push(`env ${name}: matches no configuration key`);
      continue;
    }
    if (SCHEMA[key].kind === 'patterns') {
      warnings.push(`env ${name}: patterns cannot be set from the environment`);
      continue;
    }
    apply(key, value, `env ${name}`, undefined, true);
  }

  const c = config as unknown as Config;
  if (!c.spoa.enabled && !c.envoy.enabled && !c.nginx.enabled) {
    problems.push({
      key: 'spoa.enabled/envoy.enabled/nginx.enabled',
      source,
      expected: 'at least one proxy protocol enabled (SPOA, Envoy, or Nginx)',
      found: 'all three disabled',
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
  if (problems.length > 0) throw new ConfigError(problems);
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

/** Line (1-based) of every `a.b.c:` key in a YAML text, by indentation. */
export function keyLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const stack: { indent: number; key: string }[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)([A-Za-z0-9_.-]+)\s*:(\s|$)/.exec(lines[i]);
    if (!m) continue;
    const indent = m[1].length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: m[2].toLowerCase() });
    const path = stack.map((s) => s.key).join('.');
    if (!out.has(path)) out.set(path, i + 1);
  }
  return out;
}

/** The closest known key, when it is close enough to be a typo. */
export function didYouMean(key: string, known: string[]): string | null {
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = levenshtein(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** The effective config for display, secrets masked. */
export function maskSecrets(config: Config): Config {
  const c = structuredClone(config);
  if (c.api.basic_auth.password) c.api.basic_auth.password = '********';
  for (const u of Object.keys(c.api.basic_auth.users)) c.api.basic_auth.users[u] = '********';
  c.api.tokens = c.api.tokens.map(() => '********');
  c.database.dsn = c.database.dsn
    .replace(/(\/\/[^:/@]+:)[^@]*@/, '$1********@')
    .replace(/(password=)[^\s&]+/i, '$1********');
  return c;
}
