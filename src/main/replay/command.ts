import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import pino from 'pino';
import { EdgebanError } from '../../shared/errors.js';
import { normalizeSpec, type PatternSpec } from '../../shared/patterns/compile.js';
import { PatternError } from '../../shared/patterns/errors.js';
import { effectivePatterns, PRESETS } from '../../shared/patterns/presets/index.js';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createCore } from '../core.js';
import { Fail2banConfigError, Fail2banNotFoundError } from '../fail2ban/errors.js';
import { FAIL2BAN_REPLAY_USAGE, fail2banReplay, isFilterArg } from '../fail2ban/replay-command.js';
import type { FailureSink } from '../ingest/pipeline.js';
import { formatSummary, num, toJson } from './format.js';
import { replay } from './replay.js';

export const REPLAY_USAGE = `usage: edgeban replay [options] FILE… | -

Runs log files (or stdin, "-") through the patterns and the ban engine, with each line's own
timestamp, and prints what matched and which bans would have happened (like fail2ban-regex).

options:
  --config FILE          patterns and ban policy from this config file (default: the
                         configuration edgeban serve would use, if any)
  --preset NAME          use a built-in pattern set (${Object.keys(PRESETS).join(', ')})
  --patterns FILE        YAML/JSON list of patterns (name, regex, ip_group, severity, raw…)
  --regex REGEX          test one pattern (Go/RE2 or JS syntax); with --ip-group (default 1)
  --ip-group G           capture group (number or name) of --regex
  --raw                  --regex matches the raw line instead of "tag: message"
  --max-attempts N       ban policy overrides (default from the config)
  --time-window DUR      e.g. 10m, 600s
  --threads N            matcher threads (default: the CPUs available)
  --json                 machine-readable summary on stdout
  --no-progress          no progress bar (it is shown on a terminal for files over 8 MB)
  -h, --help             this text

${FAIL2BAN_REPLAY_USAGE}`;

export interface ReplayDeps {
  /** Config loader (tests); default: the one `edgeban serve` uses (--config, then the search path). */
  loadConfig?: (path: string | null) => Config | Promise<Config>;
  /** A fresh engine with its own ban table, for this replay only. */
  createEngine?: (config: Config) => FailureSink;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

interface Args {
  files: string[];
  config: string | null;
  preset: string | null;
  patternsFile: string | null;
  regex: string | null;
  ipGroup: string;
  raw: boolean;
  maxAttempts: number | null;
  timeWindow: number | null;
  threads: number | undefined;
  json: boolean;
  progress: boolean;
  help: boolean;
  fail2ban: string;
  printAll: { matched: boolean; missed: boolean; ignored: boolean };
}

class UsageError extends EdgebanError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** `10m`, `600s`, `1h30m`, `250ms`, or plain seconds. */
export function parseDurationMs(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = s;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new UsageError(`bad duration ${JSON.stringify(s)} (e.g. 10m, 600s, 1h30m)`);
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    files: [],
    config: null,
    preset: null,
    patternsFile: null,
    regex: null,
    ipGroup: '1',
    raw: false,
    maxAttempts: null,
    timeWindow: null,
    threads: undefined,
    json: false,
    progress: true,
    help: false,
    fail2ban: '/etc/fail2ban',
    printAll: { matched: false, missed: false, ignored: false },
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--config':
      case '-c':
        a.config = value();
        break;
      case '--preset':
        a.preset = value();
        break;
      case '--patterns':
        a.patternsFile = value();
        break;
      case '--regex':
        a.regex = value();
        break;
      case '--ip-group':
        a.ipGroup = value();
        break;
      case '--raw':
        a.raw = true;
        break;
      case '--max-attempts':
        a.maxAttempts = Number(value());
        if (!Number.isInteger(a.maxAttempts) || a.maxAttempts < 1)
          throw new UsageError('--max-attempts needs an integer ≥ 1');
        break;
      case '--time-window':
        a.timeWindow = parseDurationMs(value());
        break;
      case '--threads':
        a.threads = Number(value());
        break;
      case '--json':
        a.json = true;
        break;
      case '--fail2ban':
        a.fail2ban = value();
        break;
      case '--print-all-matched':
        a.printAll.matched = true;
        break;
      case '--print-all-missed':
        a.printAll.missed = true;
        break;
      case '--print-all-ignored':
        a.printAll.ignored = true;
        break;
      case '--no-progress':
        a.progress = false;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        a.files.push(arg);
    }
  }
  return a;
}

function loadPatternFile(path: string): PatternSpec[] {
  const doc = loadYaml(readFileSync(path, 'utf8')) as unknown;
  const list = Array.isArray(doc)
    ? doc
    : ((doc as { syslog?: { patterns?: unknown } })?.syslog?.patterns ??
      (doc as { patterns?: unknown })?.patterns);
  if (!Array.isArray(list)) throw new UsageError(`${path}: expected a list of patterns (or syslog.patterns)`);
  return list.map((p) => normalizeSpec(p as Partial<PatternSpec>));
}

/** `edgeban replay …`: returns the exit code (0 ok, 2 usage or pattern error). */
export async function replayCommand(argv: string[], deps: ReplayDeps = {}): Promise<number> {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err.write(`edgeban replay: ${(e as Error).message}\n\n${REPLAY_USAGE}`);
    return 2;
  }
  if (args.help) {
    out.write(REPLAY_USAGE);
    return 0;
  }
  if (args.files.length === 0) {
    err.write(`edgeban replay: no input file\n\n${REPLAY_USAGE}`);
    return 2;
  }
  const last = args.files[args.files.length - 1];
  if (args.files.length >= 2 && isFilterArg(last, args.fail2ban)) {
    try {
      return await fail2banReplay(
        {
          files: args.files.slice(0, -1),
          dir: args.fail2ban,
          printAll: args.printAll,
          maxAttempts: args.maxAttempts,
          timeWindowMs: args.timeWindow,
          json: args.json,
        },
        last,
        out,
      );
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (
        e instanceof Fail2banConfigError ||
        e instanceof Fail2banNotFoundError ||
        code === 'ENOENT' ||
        code === 'EACCES' ||
        code === 'EISDIR'
      ) {
        err.write(`edgeban replay: ${(e as Error).message}\n`);
        return 2;
      }
      throw e;
    }
  }
  try {
    const load = deps.loadConfig ?? ((path: string | null) => loadConfig({ path: path ?? undefined }).config);
    const config = await load(args.config);
    let patterns: readonly PatternSpec[] = effectivePatterns(config.syslog.patterns);
    if (args.preset !== null) {
      const p = PRESETS[args.preset];
      if (!p)
        throw new UsageError(
          `unknown preset ${JSON.stringify(args.preset)}; known: ${Object.keys(PRESETS).join(', ')}`,
        );
      patterns = p;
    }
    if (args.patternsFile !== null) patterns = loadPatternFile(args.patternsFile);
    if (args.regex !== null) {
      patterns = [
        normalizeSpec({
          name: 'regex',
          regex: args.regex,
          ip_group: /^\d+$/.test(args.ipGroup) ? Number(args.ipGroup) : args.ipGroup,
          raw: args.raw,
        }),
      ];
    }
    if (args.maxAttempts !== null) config.ban.max_attempts = args.maxAttempts;
    if (args.timeWindow !== null) config.ban.time_window = args.timeWindow;
    const engine = deps.createEngine
      ? deps.createEngine(config)
      : createCore({ config, nodeId: 'replay', initialCapacity: 1 << 12 }).engine;
    const showProgress = args.progress && err.isTTY === true;
    const summary = await replay({
      files: args.files,
      patterns,
      engine,
      threads: args.threads ?? (config.workers.count || undefined),
      maxLineLength: config.syslog.max_line_length,
      log: pino({ level: 'warn' }, pino.destination(2)),
      onProgress: showProgress ? progressBar(err) : undefined,
    });
    if (showProgress) err.write('\r\x1b[K');
    out.write(
      args.json
        ? `${JSON.stringify(toJson(summary, engine !== null), null, 2)}\n`
        : formatSummary(summary, engine !== null),
    );
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err.write(`edgeban replay: config error: ${formatProblem(p)}\n`);
      return 2;
    }
    if (e instanceof PatternError || e instanceof UsageError) {
      err.write(`edgeban replay: ${e.message}\n`);
      return 2;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      err.write(`edgeban replay: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

const LARGE = 8 * 1024 * 1024;

function progressBar(
  err: NodeJS.WritableStream,
): (p: { bytes: number; totalBytes: number; lines: number }) => void {
  const t0 = performance.now();
  return (p) => {
    if (p.totalBytes > 0 && p.totalBytes < LARGE) return;
    const rate = (p.lines / Math.max(1e-3, (performance.now() - t0) / 1000)) | 0;
    if (p.totalBytes > 0) {
      const frac = Math.min(1, p.bytes / p.totalBytes);
      const width = 30;
      const fill = Math.round(frac * width);
      err.write(
        `\r[${'='.repeat(fill)}${' '.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${num(p.lines)} lines  ${num(rate)} lines/s\x1b[K`,
      );
    } else {
      err.write(`\r${num(p.lines)} lines  ${num(rate)} lines/s\x1b[K`);
    }
  };
}
