import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgebanError } from '../../shared/errors.js';
import { App } from '../app.js';
import { version } from '../cli.js';
import { ConfigError, formatProblem, type LoadedConfig, loadConfig } from '../config/load.js';
import { asError, createLogger, type Logger } from '../log/logger.js';
import { buildCommit } from '../metrics/build-info.js';
import { Metrics } from '../metrics/registry.js';
import { installProcessGuard } from '../system/guard.js';
import { CONFIG_OPTIONS_USAGE, configOptions } from './options.js';

export const SERVE_USAGE = `usage: edgeban serve [options]

Runs edgeban: the HAProxy agent (SPOA), Envoy ext_authz, the Nginx /auth endpoint and REST API,
the syslog receivers, metrics. SIGTERM/SIGINT stop it gracefully, SIGHUP re-reads the config.
A configuration with errors (an unknown key included) refuses to start (exit 2).

options:
${CONFIG_OPTIONS_USAGE}
  --fail2ban DIR      run straight from a fail2ban tree (/etc/fail2ban): its enabled jails, their
                      filters and log files, imported at start as \`edgeban import-fail2ban DIR\`
                      would write them (instead of --config; SIGHUP re-reads that import)
`;

/** `--fail2ban DIR` (or `--fail2ban=DIR`) out of the arguments. */
function takeFail2banOption(argv: string[]): { dir: string | null; rest: string[] } {
  const rest: string[] = [];
  let dir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fail2ban') {
      if (i + 1 >= argv.length) throw new EdgebanError('E_USAGE', 'option --fail2ban needs a directory');
      dir = argv[++i];
    } else if (a.startsWith('--fail2ban=')) dir = a.slice('--fail2ban='.length);
    else rest.push(a);
  }
  return { dir, rest };
}

/**
 * Imports a fail2ban tree into a private config file (what import-fail2ban would write) and
 * returns its path; the import's report goes to stderr, once. Loaded only for `--fail2ban`: a
 * plain serve does not carry the importer.
 */
async function importedConfig(dir: string): Promise<string> {
  const { importFail2ban } = await import('../fail2ban/import.js');
  const { configYaml, importReport } = await import('../fail2ban/import-command.js');
  const imp = importFail2ban(dir);
  if (imp.jails.length === 0)
    throw new EdgebanError('E_USAGE', `no enabled jail in the fail2ban tree ${dir}: nothing to run`);
  const out = join(mkdtempSync(join(tmpdir(), 'edgeban-fail2ban-')), 'config.yaml');
  writeFileSync(out, configYaml(imp), { mode: 0o600 });
  process.stderr.write(importReport(imp));
  return out;
}

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * `edgeban serve`: load the config, start every enabled subsystem, then live until SIGTERM /
 * SIGINT (graceful stop, exit 0) while SIGHUP reloads the config file (a bad file is rejected
 * and the running config kept).
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const { dir: fail2banDir, rest } = takeFail2banOption(argv);
  const opts = configOptions(rest);
  if (opts.help) {
    console.log(SERVE_USAGE);
    return 0;
  }
  let configPath = opts.config;
  if (fail2banDir !== null) {
    if (opts.config !== undefined)
      throw new EdgebanError('E_USAGE', '--fail2ban and --config exclude each other');
    configPath = await importedConfig(fail2banDir);
  }
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ path: configPath, allowUnknown: opts.allowUnknown });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const w of err.warnings) console.error(`edgeban: config warning: ${w}`);
      for (const p of err.problems) console.error(`edgeban: config error: ${formatProblem(p)}`);
      return 2;
    }
    throw err;
  }
  const level = opts.logLevel ?? loaded.config.log.level;
  const log = createLogger(level);
  // uncaught errors are logged and counted from the first log line on; fatal only while
  // starting or when the process state is unknown (docs/operations.md: What is fatal, and why)
  const guard = installProcessGuard(log);
  // signals are handled from the first log line on: nothing in the start-up may kill the process
  // One SIGHUP listener for the whole life of the process: a SIGHUP while starting is kept and
  // applied once up. (Swapping listeners could drop a signal libuv had caught but not yet
  // dispatched: removing the last listener stops the signal watcher.)
  const hup: { reload: (() => void) | null; pending: boolean } = { reload: null, pending: false };
  process.on('SIGHUP', () => {
    if (hup.reload) hup.reload();
    else hup.pending = true;
  });
  // SIGTERM/SIGINT while starting (a supervisor giving up, a quick Ctrl-C) must not kill the
  // process half-started: the stop waits for the start and runs as usual, exit 0
  const term: { stop: ((s: NodeJS.Signals) => void) | null; pending: NodeJS.Signals | null } = {
    stop: null,
    pending: null,
  };
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (term.stop) term.stop(signal);
    else if (term.pending === null) {
      term.pending = signal;
      log.info({ signal }, 'stop requested while starting: stopping once started');
    } else {
      log.warn({ signal }, 'second signal while starting: exiting now');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  for (const w of loaded.warnings) log.warn({ warning: w }, w);
  if (loaded.path) log.info({ config: loaded.path }, 'configuration loaded');
  else log.info('no configuration file found: running on embedded defaults');
  const metrics = new Metrics({ version: version(), commit: buildCommit() });
  guard.useRegistry(metrics.registry);
  const app = new App({ config: loaded.config, configPath: loaded.path, log, metrics });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err: asError(err) }, asError(err).message);
    await app.stop();
    await flush(log);
    return 1;
  }
  log.info({ version: version(), node: process.version }, 'edgeban started');
  guard.serving();
  const code = await untilStopped(app, log, loaded.path, opts, hup, term);
  await flush(log);
  return code;
}

function untilStopped(
  app: App,
  log: Logger,
  path: string | null,
  opts: { logLevel?: string; allowUnknown: boolean },
  hup: { reload: (() => void) | null; pending: boolean },
  term: { stop: ((s: NodeJS.Signals) => void) | null; pending: NodeJS.Signals | null },
): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'stopping: finishing in-flight work');
      const timer = setTimeout(() => {
        log.error({ timeout_ms: STOP_TIMEOUT_MS }, 'did not stop in time; exiting');
        resolve(1);
      }, STOP_TIMEOUT_MS);
      timer.unref();
      app.stop().then(() => {
        clearTimeout(timer);
        log.info('stopped');
        resolve(0);
      });
    };
    term.stop = stop;
    if (term.pending) stop(term.pending);
    const reload = () => {
      let next: LoadedConfig;
      try {
        next = loadConfig({ path: path ?? undefined, allowUnknown: opts.allowUnknown });
      } catch (err) {
        if (err instanceof ConfigError) {
          log.error(
            { problems: err.problems.map(formatProblem) },
            'configuration reload rejected; keeping the running configuration',
          );
        } else log.error({ err }, 'configuration reload failed; keeping the running configuration');
        return;
      }
      if (opts.logLevel) next.config.log.level = opts.logLevel;
      for (const w of next.warnings) log.warn({ warning: w }, w);
      app.reload(next.config).then(
        () => log.info({ config: next.path }, 'configuration reloaded'),
        (err: Error) => log.error({ err }, 'configuration reload failed part-way'),
      );
    };
    hup.reload = reload;
    if (hup.pending) reload();
  });
}

function flush(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
