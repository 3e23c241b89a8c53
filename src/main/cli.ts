import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { API_COMMANDS, CLIENT_USAGE } from './cli/api-commands.js';
import { checkConfigCommand } from './cli/check-config.js';
import { serveCommand } from './cli/serve.js';
import { replayCommand } from './replay/command.js';

/** A subcommand: adding one is one line in COMMANDS. */
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run edgeban (the default)', run: serveCommand },
  'check-config': {
    summary: 'validate the configuration and print the effective one',
    run: checkConfigCommand,
  },
  replay: {
    summary: 'run log files through the patterns and the ban engine (like fail2ban-regex)',
    run: (a) => replayCommand(a),
  },
  ...API_COMMANDS,
};

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

function help(): string {
  const lines = [
    'usage: edgeban [command] [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`),
    '',
    'options:',
    '  --config PATH      configuration file (default: $EDGEBAN_CONFIG, ./config.yaml, /etc/edgeban/config.yaml, /etc/fail2ban-haproxy/config.yaml)',
    '  --log-level LEVEL  trace, debug, info, warn, error',
    '  --help, --version',
    '',
    CLIENT_USAGE,
  ];
  return lines.join('\n');
}

/** Command-line entry: `edgeban [serve|check-config|…]`. Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    strict: false,
    allowPositionals: true,
  });
  if (values.version) {
    console.log(version());
    return 0;
  }
  const name = positionals[0] ?? 'serve';
  if (values.help || name === 'help') {
    console.log(help());
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`edgeban: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  const rest = positionals[0] === name ? argv.slice(argv.indexOf(name) + 1) : argv;
  return cmd.run(rest);
}
