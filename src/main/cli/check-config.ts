import * as yaml from 'js-yaml';
import { formatDuration } from '../config/duration.js';
import { ConfigError, formatProblem, loadConfig, maskSecrets } from '../config/load.js';
import { SCHEMA } from '../config/schema.js';
import type { Config } from '../config/types.js';
import { configOptions } from './options.js';

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
  try {
    const loaded = loadConfig({ path: opts.config });
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
      for (const p of err.problems) console.error(`error: ${formatProblem(p)}`);
      console.error(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found`);
      return 1;
    }
    throw err;
  }
}
