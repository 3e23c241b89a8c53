import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * A thrown value as the Error a log line's `err` carries (pino's serializer writes its type,
 * message, stack and code). A rejection may carry anything; a non-Error is wrapped.
 */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(`non-error thrown: ${describe(value)}`);
}

/**
 * As asError, but an AggregateError (a connection tried on several addresses) gives its first
 * error: that one says what failed.
 */
export function firstError(value: unknown): Error {
  if (value instanceof AggregateError && value.errors.length > 0) return firstError(value.errors[0]);
  return asError(value);
}

function describe(value: unknown): string {
  try {
    const s = typeof value === 'string' ? value : JSON.stringify(value);
    return (s ?? String(value)).slice(0, 200);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * pino JSON to stdout; `pino-pretty` when stdout is a terminal (humans), JSON otherwise
 * (log shippers). Fields operators grep for: `ip`, `pattern`, `peer`, `err.code`.
 */
export function createLogger(level: string, opts: { pretty?: boolean; destination?: number } = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return pino(
    { level, base: { pid: process.pid } },
    pino.destination({ dest: opts.destination ?? 1, sync: false }),
  );
}
