import * as yaml from 'js-yaml';
import { formatDuration } from '../config/duration.js';
import { ConfigError, formatProblem, loadConfig, maskSecrets } from '../config/load.js';
import { SCHEMA } from '../config/schema.js';
import type { Config } from '../config/types.js';
import { CONFIG_OPTIONS_USAGE, configOptions } from './options.js';

export const CHECK_CONFIG_USAGE = `usage: edgeban check-config [options]

Validates the configuration file and the FAIL2BAN_* environment overrides and prints the
effective configuration (secrets masked). Every problem is reported at once, as
FILE:LINE: KEY: expected …, found …; an unknown key is an error (with a "did you mean").
Exit status: 0 valid, 1 invalid, 2 usage error.

options:
${CONFIG_OPTIONS_USAGE}
  --json              the effective configuration as JSON
`;

/** Durations back to text for display (the loader keeps milliseconds). */
function displayable(config: Config): unknown {
  const c = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const [key, spec] of Object.entries(SCHEMA)) {
    if (spec.kind !== 'duration') continue;
    const [section, name] = key.split('.');
    c[section][name] = formatDuration(c[section][name] as number);
  }
  return c;
}

/** `edgeban check-config`: exit 0 and print the effective config, or exit 1 with every problem. */
export async function checkConfigCommand(argv: string[]): Promise<number> {
  const opts = configOptions(argv);
  if (opts.help) {
    console.log(CHECK_CONFIG_USAGE);
    return 0;
  }
  try {
    const loaded = loadConfig({ path: opts.config, allowUnknown: opts.allowUnknown });
    for (const w of loaded.warnings) console.error(`warning: ${w}`);
    const masked = displayable(maskSecrets(loaded.config));
    console.error(
      loaded.path
        ? `configuration ${loaded.path} is valid`
        : 'no configuration file found: embedded defaults',
    );
    console.log(opts.json ? JSON.stringify(masked, null, 2) : yaml.dump(masked, { lineWidth: 120 }));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const w of err.warnings) console.error(`warning: ${w}`);
      for (const p of err.problems) console.error(`error: ${formatProblem(p)}`);
      const unknown = err.problems.filter((p) => p.found === 'an unknown key').length;
      console.error(
        `${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found${
          unknown > 0
            ? ` (--allow-unknown turns the ${unknown} unknown key${unknown === 1 ? '' : 's'} into warnings)`
            : ''
        }`,
      );
      return 1;
    }
    throw err;
  }
}
