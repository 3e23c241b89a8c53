/**
 * Benchmark flags: `--name` and `--name=value` (or `--name value` for the value flags below),
 * normalised to `--name` / `--name=value` before a benchmark sees them. `npm run bench NAME
 * --quick` (no `--`) hands `--quick` to npm, which keeps it as `npm_config_quick=true` in the
 * environment: those are recovered for the flags known here, with a hint on stderr.
 */

/** Flags that take a value. */
export const VALUE_FLAGS = [
  'duration',
  'port',
  'syslog',
  'syslog-rate',
  'storm-rate',
  'addresses',
  'attackers',
] as const;
/** Flags without a value. `--save` cannot be recovered: npm keeps it silently (it is its own default). */
export const BOOL_FLAGS = ['quick', 'save'] as const;

export interface ParsedArgs {
  names: string[];
  flags: string[];
  /** What was recovered from npm_config_*, for the hint. */
  recovered: string[];
}

/** What a value flag's value looks like (a number, a duration, tcp/udp), unlike a bench name. */
const LOOKS_LIKE_VALUE = /^(?:\d[\d_.]*(?:ms|s|m|h)?|tcp|udp)$/;

const isValueFlag = (n: string) => (VALUE_FLAGS as readonly string[]).includes(n);

export function parseArgs(
  argv: string[],
  benchNames: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  const names: string[] = [];
  const flags: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const name = a.slice(2).split('=')[0];
    const next = argv[i + 1];
    if (!a.includes('=') && isValueFlag(name) && next !== undefined && !next.startsWith('-')) {
      flags.push(`--${name}=${next}`);
      i++;
    } else flags.push(a);
  }
  const given = (n: string) => flags.some((f) => f === `--${n}` || f.startsWith(`--${n}=`));
  const recovered: string[] = [];
  // only under npm: a stray npm_config_* in a plain shell is not a flag
  if (env.npm_lifecycle_event !== undefined) {
    for (const n of [...BOOL_FLAGS, ...VALUE_FLAGS]) {
      const v = env[`npm_config_${n.replace(/-/g, '_')}`];
      if (v === undefined || v === '' || given(n)) continue;
      if (!isValueFlag(n)) {
        if (v === 'true') flags.push(`--${n}`);
        else continue;
      } else if (v !== 'true') flags.push(`--${n}=${v}`);
      else {
        // `--duration 60s`: npm took `--duration` as a switch and passed `60s` on as an argument
        const k = positional.findIndex((p) => !benchNames.includes(p) && LOOKS_LIKE_VALUE.test(p));
        if (k < 0) continue;
        flags.push(`--${n}=${positional[k]}`);
        positional.splice(k, 1);
      }
      recovered.push(flags[flags.length - 1]);
    }
  }
  names.push(...positional);
  return { names, flags, recovered };
}

/** The value of `--name=value` among normalised flags. */
export function flagValue(flags: string[], name: string): string | undefined {
  const f = flags.find((x) => x.startsWith(`--${name}=`));
  return f === undefined ? undefined : f.slice(name.length + 3);
}

/** `90`, `90s`, `10m`, `1h`, `500ms` → milliseconds; NaN when unreadable. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return Number.NaN;
  const k = m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : m[2] === 'h' ? 3_600_000 : 1000;
  return Number(m[1]) * k;
}
