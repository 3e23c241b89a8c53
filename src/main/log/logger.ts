import pino, { type Logger } from 'pino';

export type { Logger };

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
