import { parseArgs } from 'node:util';
import { EdgebanError } from '../../shared/errors.js';

/** `--config PATH` and `--log-level LEVEL`, shared by the commands that load a config. */
export function configOptions(argv: string[]): { config?: string; logLevel?: string; json: boolean } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
    return { config: values.config, logLevel: values['log-level'], json: values.json ?? false };
  } catch (err) {
    throw new EdgebanError('E_USAGE', (err as Error).message);
  }
}
