import { App } from '../app.js';
import { version } from '../cli.js';
import { ConfigError, formatProblem, type LoadedConfig, loadConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Metrics } from '../metrics/registry.js';
import { configOptions } from './options.js';

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * `edgeban serve`: load the config, start every enabled subsystem, then live until SIGTERM /
 * SIGINT (graceful stop, exit 0) while SIGHUP reloads the config file (a bad file is rejected
 * and the running config kept).
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const opts = configOptions(argv);
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ path: opts.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`edgeban: config error: ${formatProblem(p)}`);
      return 2;
    }
    throw err;
  }
  const level = opts.logLevel ?? loaded.config.log.level;
  const log = createLogger(level);
  for (const w of loaded.warnings) log.warn({ warning: w }, w);
  if (loaded.path) log.info({ config: loaded.path }, 'configuration loaded');
  else log.info('no configuration file found: running on embedded defaults');
  const metrics = new Metrics({ version: version(), commit: process.env.EDGEBAN_COMMIT ?? 'unknown' });
  const app = new App({ config: loaded.config, configPath: loaded.path, log, metrics });
  // a SIGHUP while starting must not kill the process (its default action): apply it once up
  let hupWhileStarting = false;
  const earlyHup = () => {
    hupWhileStarting = true;
  };
  process.on('SIGHUP', earlyHup);
  try {
    await app.start();
  } catch (err) {
    log.fatal(
      { err: { code: (err as { code?: string }).code, message: (err as Error).message } },
      (err as Error).message,
    );
    await app.stop();
    await flush(log);
    return 1;
  }
  log.info({ version: version(), node: process.version }, 'edgeban started');
  process.off('SIGHUP', earlyHup);
  const code = await untilStopped(app, log, loaded.path, opts.logLevel, hupWhileStarting);
  await flush(log);
  return code;
}

function untilStopped(
  app: App,
  log: Logger,
  path: string | null,
  levelOverride: string | undefined,
  reloadNow: boolean,
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
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    const reload = () => {
      let next: LoadedConfig;
      try {
        next = loadConfig({ path: path ?? undefined });
      } catch (err) {
        if (err instanceof ConfigError) {
          log.error(
            { problems: err.problems.map(formatProblem) },
            'configuration reload rejected; keeping the running configuration',
          );
        } else log.error({ err }, 'configuration reload failed; keeping the running configuration');
        return;
      }
      if (levelOverride) next.config.log.level = levelOverride;
      for (const w of next.warnings) log.warn({ warning: w }, w);
      app.reload(next.config).then(
        () => log.info({ config: next.path }, 'configuration reloaded'),
        (err: Error) => log.error({ err }, 'configuration reload failed part-way'),
      );
    };
    process.on('SIGHUP', reload);
    if (reloadNow) reload();
  });
}

function flush(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
