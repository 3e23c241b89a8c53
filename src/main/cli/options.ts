import { parseArgs } from 'node:util';
import { EdgebanError } from '../../shared/errors.js';

export interface ConfigOptions {
  config?: string;
  logLevel?: string;
  json: boolean;
  /** Unknown keys in the file are warnings, not errors. */
  allowUnknown: boolean;
  help: boolean;
}

/** `--config PATH`, `--log-level LEVEL`, `--allow-unknown`, shared by the commands that load a config. */
export function configOptions(argv: string[]): ConfigOptions {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        json: { type: 'boolean' },
        'allow-unknown': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    return {
      config: values.config,
      logLevel: values['log-level'],
      json: values.json ?? false,
      allowUnknown: values['allow-unknown'] ?? process.env.EDGEBAN_ALLOW_UNKNOWN === 'true',
      help: values.help ?? false,
    };
  } catch (err) {
    throw new EdgebanError('E_USAGE', (err as Error).message);
  }
}

export const CONFIG_OPTIONS_USAGE = [
  '  --config PATH, -c   configuration file (default: $EDGEBAN_CONFIG, ./config.yaml, ./config.yml,',
  '                      /etc/edgeban/config.yaml, /etc/fail2ban-haproxy/config.yaml)',
  '  --allow-unknown     unknown keys in the file are warnings, not errors ($EDGEBAN_ALLOW_UNKNOWN=true)',
  '  --log-level LEVEL   trace, debug, info, warn, error',
].join('\n');
