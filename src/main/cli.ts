import { readFileSync } from 'node:fs';
import { EdgebanError } from '../shared/errors.js';
import { API_COMMANDS, CLIENT_USAGE } from './cli/api-commands.js';
import { checkConfigCommand } from './cli/check-config.js';
import { CONFIG_OPTIONS_USAGE } from './cli/options.js';

/** A subcommand: adding one is one line in COMMANDS. */
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  // the server and replay load every subsystem: only when asked for (`health` runs every few
  // seconds in the image and must start fast)
  serve: {
    summary: 'run edgeban (the default)',
    run: async (a) => (await import('./cli/serve.js')).serveCommand(a),
  },
  'check-config': {
    summary: 'validate the configuration and print the effective one',
    run: checkConfigCommand,
  },
  replay: {
    summary: 'run log files through the patterns and the ban engine (like fail2ban-regex)',
    run: async (a) => (await import('./replay/command.js')).replayCommand(a),
  },
  'import-fail2ban': {
    summary: 'turn a fail2ban tree (jails, filters) into an edgeban configuration',
    run: async (a) => (await import('./fail2ban/import-command.js')).importCommand(a),
  },
  health: {
    summary: 'is the local edgeban ready? (GET /ready; exit 0 ready, 1 not)',
    run: async (a) => (await import('./cli/health.js')).healthCommand(a),
  },
  export: {
    summary: 'print the bans in force as a HAProxy map, an nft script, plain lines or JSON',
    run: async (a) => (await import('./cli/export.js')).exportCommand(a),
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

function help_(): string {
  const lines = [
    'usage: edgeban [command] [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`),
    '',
    'options (before or after the command):',
    CONFIG_OPTIONS_USAGE,
    '  --help, -h          this text; `edgeban COMMAND --help`: the options of that command',
    '  --version, -v',
    '',
    CLIENT_USAGE,
  ];
  return lines.join('\n');
}

/** Options a command takes that may also be written before the command's name. */
const GLOBAL_VALUED = new Set([
  '--config',
  '-c',
  '--url',
  '--user',
  '-u',
  '--password',
  '--token',
  '--log-level',
]);
const GLOBAL_FLAGS = new Set(['--json', '--allow-unknown', '--force']);

/**
 * Command-line entry: `edgeban [global options] [command] [options]`. Options before the
 * command are handed to it (`edgeban --url X ban IP`); `--help` before the command (or none) is
 * the general help, after it the command's own. Returns the exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const globals: string[] = [];
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--version' || a === '-v') {
      console.log(version());
      return 0;
    } else if (GLOBAL_FLAGS.has(a)) globals.push(a);
    else if (GLOBAL_VALUED.has(a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a)) {
      globals.push(a);
      if (!a.includes('=')) {
        if (i + 1 >= argv.length) throw new EdgebanError('E_USAGE', `option ${a} needs a value`);
        globals.push(argv[++i]);
      }
    } else if (a.startsWith('-')) {
      throw new EdgebanError('E_USAGE', `unknown option ${a} before the command (edgeban --help)`);
    } else break;
  }
  const name = argv[i] ?? 'serve';
  if (name === 'help') {
    const topic = argv[i + 1];
    if (topic && COMMANDS[topic]) return COMMANDS[topic].run(['--help']);
    console.log(help_());
    return 0;
  }
  if (help) {
    console.log(help_());
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`edgeban: unknown command "${name}"\n\n${help_()}`);
    return 2;
  }
  return cmd.run([...globals, ...argv.slice(i + 1)]);
}
