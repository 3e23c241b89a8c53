import { Counter, type Registry } from 'prom-client';
import { asError, type Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';

/**
 * The process-wide safety net. An uncaught exception or unhandled rejection is logged
 * (rate-limited) and counted, and the process keeps serving: one hostile peer that reaches a
 * code path nobody guarded must not take every other client's answers down with it. A few
 * errors stay fatal because continuing would serve wrong answers or none (see `fatalReason`).
 *
 * Per-connection handlers are wrapped once with `guarded` / `guardSocket`: a throw closes that
 * connection only, and is counted under the same metric.
 */

export type UncaughtKind = 'exception' | 'rejection' | 'handler';

export const UNCAUGHT_METRIC = 'edgeban_uncaught_errors_total';

/** Where the code of a stack frame lives → the subsystem it belongs to (dist or ts paths). */
const SUBSYSTEM_FRAME = /[/\\]src[/\\](main|workers|shared)[/\\]([a-z0-9-]+)/;
/**
 * Frames of the ban table's single writer. A throw that passes through them may have left the
 * engine's maps and the shared table half-updated: see `fatalReason`.
 */
const WRITER_FRAME = /[/\\]src[/\\](main[/\\]engine|shared[/\\]bantable)[/\\]/;

let active: ProcessGuard | null = null;
/** Handler errors caught while no guard is installed (in-process servers in tests). */
let unreported = 0;

/** Stateless helpers every subsystem calls (address parsing, verdict texts): their caller is the source. */
const HELPER_FRAME = /[/\\]src[/\\]shared[/\\](ip|verdict|errors|error-codes)\b/;

/** The subsystem an error was thrown from, read from its first frame under src/ (helpers skipped). */
export function subsystemOf(err: Error): string {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  for (const line of stack.split('\n')) {
    if (HELPER_FRAME.test(line)) continue;
    const m = SUBSYSTEM_FRAME.exec(line);
    if (m) return m[1] === 'main' ? m[2] : `${m[1]}/${m[2]}`;
  }
  return 'unknown';
}

/**
 * Why this uncaught error must end the process, or null if it may be survived.
 * - out-of-memory surfaced as a RangeError: further allocations fail at random places;
 * - thrown through the ban engine or the ban table: the single writer stopped half-way through
 *   an update (engine maps, shared table and the store's journal may disagree), and every
 *   answer from then on could be silently wrong; a restart rebuilds all three from the store.
 */
export function fatalReason(err: Error): string | null {
  if (err instanceof RangeError && /allocation failed|out of memory/i.test(err.message))
    return 'out of memory';
  const stack = typeof err.stack === 'string' ? err.stack : '';
  if (WRITER_FRAME.test(stack)) return 'thrown inside the ban table writer (engine state unknown)';
  return null;
}

export interface ProcessGuardOptions {
  /** Log-line window of the throttle (ms). */
  windowMs?: number;
  /** How the process ends on a fatal error (tests of the guard itself may override). */
  exit?: (code: number) => void;
}

export class ProcessGuard {
  private readonly log: Logger;
  private readonly throttle: LogThrottle;
  private readonly exit: (code: number) => void;
  private counter: Counter<'kind'> | null = null;
  /** Counts kept until a registry is attached (errors during start-up, before the metrics). */
  private readonly pending = new Map<UncaughtKind, number>();
  private phase: 'starting' | 'serving' | 'stopping' = 'starting';
  private dying = false;
  private readonly onException = (err: unknown) => this.uncaught('exception', err);
  private readonly onRejection = (reason: unknown) => this.uncaught('rejection', reason);

  constructor(log: Logger, opts: ProcessGuardOptions = {}) {
    this.log = log.child({ subsystem: 'guard' });
    this.throttle = new LogThrottle(this.log, { windowMs: opts.windowMs ?? 60_000, maxKeys: 256 });
    this.exit = opts.exit ?? ((code) => process.exit(code));
  }

  /** Take over `uncaughtException` / `unhandledRejection` for the whole process. */
  install(): this {
    process.on('uncaughtException', this.onException);
    process.on('unhandledRejection', this.onRejection);
    active = this;
    return this;
  }

  uninstall(): void {
    process.off('uncaughtException', this.onException);
    process.off('unhandledRejection', this.onRejection);
    if (active === this) active = null;
    this.throttle.close();
  }

  /** Count in `registry` from now on (counts made before are carried over). */
  useRegistry(registry: Registry): void {
    const existing = registry.getSingleMetric(UNCAUGHT_METRIC);
    this.counter =
      (existing as Counter<'kind'> | undefined) ??
      new Counter({
        name: UNCAUGHT_METRIC,
        help: 'Errors no handler caught (exception, rejection) and per-connection handler throws (handler); none is fatal once serving',
        labelNames: ['kind'] as const,
        registers: [registry],
      });
    for (const kind of ['exception', 'rejection', 'handler'] as const) {
      this.counter.inc({ kind }, this.pending.get(kind) ?? 0);
    }
    this.pending.clear();
  }

  /** Start-up is over: from now on uncaught errors are survived (unless fatal by nature). */
  serving(): void {
    this.phase = 'serving';
  }

  /** The process is stopping: errors are still logged, never fatal (the exit is near anyway). */
  stopping(): void {
    this.phase = 'stopping';
  }

  /** A per-connection handler threw; the caller closes the connection. */
  handlerError(err: unknown, subsystem: string): void {
    const e = asError(err);
    this.count('handler');
    this.throttle.error(
      'handler-error',
      `${subsystem}:${(e as { code?: string }).code ?? e.name}`,
      { err: e, source: subsystem },
      `${subsystem}: a connection handler threw; that connection was closed`,
    );
  }

  private count(kind: UncaughtKind): void {
    if (this.counter) this.counter.inc({ kind });
    else this.pending.set(kind, (this.pending.get(kind) ?? 0) + 1);
  }

  private uncaught(kind: 'exception' | 'rejection', value: unknown): void {
    const err = asError(value);
    this.count(kind);
    const source = subsystemOf(err);
    const why = this.phase === 'starting' ? 'during start-up' : fatalReason(err);
    if (why !== null && this.phase !== 'stopping') {
      this.die(kind, err, source, why);
      return;
    }
    this.throttle.error(
      `uncaught-${kind}`,
      `${source}:${(err as { code?: string }).code ?? err.name}`,
      { err, kind, source },
      kind === 'exception'
        ? `uncaught exception (from ${source}); still serving`
        : `unhandled promise rejection (from ${source}); still serving`,
    );
  }

  private die(kind: UncaughtKind, err: Error, source: string, why: string): void {
    if (this.dying) return;
    this.dying = true;
    this.log.fatal({ err, kind, source, reason: why }, `fatal uncaught error (${why}): exiting`);
    this.log.flush(() => this.exit(1));
    // a stuck destination must not keep a broken process alive
    setTimeout(() => this.exit(1), 1000).unref();
  }
}

/** Install the guard for this process (one per process; `edgeban serve` does it first thing). */
export function installProcessGuard(log: Logger, opts?: ProcessGuardOptions): ProcessGuard {
  active?.uninstall();
  return new ProcessGuard(log, opts).install();
}

/** Handler throws caught so far while no guard was installed. */
export function unreportedHandlerErrors(): number {
  return unreported;
}

function reportHandlerError(err: unknown, subsystem: string): void {
  if (active) active.handlerError(err, subsystem);
  else unreported++;
}

/**
 * Wrap a one-argument event handler once (per connection or stream, never per chunk): a throw
 * is reported (counter `kind="handler"`, rate-limited log) and `close` ends that connection.
 * The wrapper allocates nothing per call.
 */
export function guarded<T>(
  fn: (arg: T) => void,
  close: (err: Error) => void,
  subsystem: string,
): (arg: T) => void {
  return (arg: T) => {
    try {
      fn(arg);
    } catch (err) {
      reportHandlerError(err, subsystem);
      try {
        close(asError(err));
      } catch {
        // closing a broken connection may throw too: it is gone either way
      }
    }
  };
}

/** The minimal surface of a socket or an HTTP/2 stream that `guardSocket` needs. */
export interface Closable {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  destroy(error?: Error): unknown;
}

/**
 * `socket.on('data', onData)` with the handler guarded: a throw destroys this socket (and calls
 * `onError`, if given, before), nothing else. Returns the installed listener.
 */
export function guardSocket<S extends Closable>(
  socket: S,
  onData: (chunk: Buffer) => void,
  subsystem: string,
  onError?: (err: Error) => void,
): (chunk: Buffer) => void {
  const listener = guarded(
    onData,
    (err) => {
      onError?.(err);
      socket.destroy();
    },
    subsystem,
  );
  socket.on('data', listener);
  return listener;
}
