import type { Config } from './config/types.js';
import type { Logger } from './log/logger.js';
import type { Metrics } from './metrics/registry.js';

/** What every subsystem gets: the resolved config, the process logger and the metrics. */
export interface AppContext {
  config: Config;
  /** The file the config came from; null when running on embedded defaults. */
  configPath: string | null;
  log: Logger;
  metrics: Metrics;
}

/**
 * A long-running subsystem (a server, a receiver, the store). `start` resolves once it serves
 * (a bind failure rejects); `stop` stops accepting, finishes in-flight work and resolves.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Apply a new config without a restart (SIGHUP, store reload); optional. */
  reload?(config: Config): void | Promise<void>;
}
