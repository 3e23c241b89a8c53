import type { Config } from './config/types.js';
import type { Logger } from './log/logger.js';
import type { Metrics } from './metrics/registry.js';
import type { ServiceState } from './readiness.js';

/** What every subsystem gets: the resolved config, the process logger and the metrics. */
export interface AppContext {
  config: Config;
  /** The file the config came from; null when running on embedded defaults. */
  configPath: string | null;
  log: Logger;
  metrics: Metrics;
}

/**
 * What a subsystem (a server, a receiver, the store, the engine) says about itself: `start`
 * resolves once it serves (a bind failure rejects); `stop` stops accepting, finishes in-flight
 * work and resolves. The app runs each one through a `Subsystem`, which owns the rest.
 */
export interface Service {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  /** Apply a new config without a restart (SIGHUP, store reload); optional. */
  reload?(config: Config): void | Promise<void>;
}

/** Longest one subsystem's stop may take before the next one's turn. */
export const STOP_BOUND_MS = 5_000;

export interface SubsystemOptions {
  /** Bound on `stop` (default STOP_BOUND_MS). */
  stopBoundMs?: number;
  /**
   * Longest the entries after this one wait for its start; past it they start anyway and this
   * one finishes in the background. Default: no bound (a start that fails must fail the app).
   */
  startWaitMs?: number;
}

/**
 * One entry of the app's start order, the same shape for every subsystem: it tracks the state
 * /ready reports, starts once, and stops once, within a bound, logging a failure instead of
 * throwing it, so one stuck or failing stop cannot keep the others (the store's final flush
 * last) from running.
 */
export class Subsystem {
  private current: ServiceState = 'starting';
  /** Started (or starting) and not stopped since. */
  private running = false;
  private stopping: Promise<void> | null = null;
  private readonly stopBoundMs: number;
  private readonly startWaitMs: number | null;

  constructor(
    private readonly service: Service,
    opts: SubsystemOptions = {},
  ) {
    this.stopBoundMs = opts.stopBoundMs ?? STOP_BOUND_MS;
    this.startWaitMs = opts.startWaitMs ?? null;
  }

  get name(): string {
    return this.service.name;
  }

  get state(): ServiceState {
    return this.current;
  }

  /** Resolves once it serves (or, with `startWaitMs`, once that has passed). */
  async start(log: Logger): Promise<void> {
    this.current = 'starting';
    // from here on a stop must reach the service, even while a bounded start is still going
    this.running = true;
    const started = Promise.resolve()
      .then(() => this.service.start())
      .then(
        () => {
          if (this.current === 'starting') this.current = 'up';
        },
        (err: unknown) => {
          this.running = false;
          throw err;
        },
      );
    if (this.startWaitMs === null) return started;
    const waited = await within(started, this.startWaitMs, false);
    if (waited === 'timeout') {
      log.warn(
        { service: this.name, waited_ms: this.startWaitMs },
        `${this.name} still starting after ${this.startWaitMs} ms; starting the rest meanwhile`,
      );
      started.catch((err: Error) => log.error({ service: this.name, err }, `${this.name} failed to start`));
    }
  }

  /** Marks it stopping before the first stop runs (/ready turns 503 at once, for every one). */
  markStopping(): void {
    if (this.current !== 'stopped') this.current = 'stopping';
  }

  /** Stops it if it started; resolves within the bound and never rejects. */
  stop(log: Logger): Promise<void> {
    this.stopping ??= this.stopOnce(log);
    return this.stopping;
  }

  reload(config: Config): void | Promise<void> {
    return this.service.reload?.(config);
  }

  private async stopOnce(log: Logger): Promise<void> {
    this.markStopping();
    if (!this.running) {
      this.current = 'stopped';
      return;
    }
    try {
      if ((await within(Promise.resolve(this.service.stop()), this.stopBoundMs, true)) === 'timeout') {
        log.error(
          { service: this.name, bound_ms: this.stopBoundMs },
          `${this.name} did not stop within ${this.stopBoundMs} ms; stopping the others`,
        );
        return;
      }
      this.current = 'stopped';
    } catch (err) {
      log.error({ service: this.name, err }, `${this.name} did not stop cleanly`);
    } finally {
      this.running = false;
    }
  }
}

/** `p`'s outcome, or 'timeout' once `ms` have passed; `unref`: the timer does not keep the process up. */
async function within(p: Promise<void>, ms: number, unref: boolean): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    if (unref) timer.unref();
  });
  try {
    return await Promise.race([p.then(() => 'done' as const), bound]);
  } finally {
    clearTimeout(timer);
  }
}
