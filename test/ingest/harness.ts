import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { Config } from '../../src/main/config/types.js';
import type { BanRecord } from '../../src/main/engine/types.js';
import type { FailureSink } from '../../src/main/ingest/pipeline.js';
import { type IngestOptions, IngestService } from '../../src/main/ingest/service.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import type { AppContext } from '../../src/main/service.js';
import { formatIp } from '../../src/shared/ip/parse.js';

const run = promisify(execFile);

export interface Failure {
  ip: string;
  pattern: string;
  timeMs: number;
}

/** Records failures as the engine would receive them. */
export class RecordingSink implements FailureSink {
  readonly failures: Failure[] = [];
  recordFailure(addr: Uint8Array, family: 4 | 6, pattern: string, timeMs: number): BanRecord | null {
    this.failures.push({ ip: formatIp(addr, family), pattern, timeMs });
    return null;
  }
}

/** A log sink that keeps the JSON lines (to assert on log output). */
export function memoryLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { log, lines };
}

export function testContext(
  mutate: (c: Config) => void = () => {},
): AppContext & { logLines: Record<string, unknown>[] } {
  const config = defaultConfig();
  config.syslog.address = '127.0.0.1:0';
  config.syslog.protocol = 'both';
  config.syslog.allowed_sources = ['127.0.0.1/32', '::1/128'];
  config.syslog.batch_delay = 2;
  config.workers.count = 1;
  mutate(config);
  const { log, lines } = memoryLogger();
  return { config, configPath: null, log, metrics: new Metrics({ defaultMetrics: false }), logLines: lines };
}

export async function startIngest(
  sink: FailureSink | null,
  mutate?: (c: Config) => void,
  opts: IngestOptions = {},
): Promise<{ svc: IngestService; ctx: ReturnType<typeof testContext> }> {
  const ctx = testContext(mutate);
  const svc = new IngestService(ctx, sink, { threads: 1, ...opts });
  await svc.start();
  return { svc, ctx };
}

/** Polls `cond` every 10 ms for at most `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `logger` (util-linux) sending one message. */
export async function sendWithLogger(
  port: number,
  transport: 'udp' | 'tcp',
  format: 'rfc3164' | 'rfc5424',
  tag: string,
  msg: string,
  extra: string[] = [],
): Promise<void> {
  await run('logger', [
    '--server',
    '127.0.0.1',
    '--port',
    String(port),
    transport === 'udp' ? '--udp' : '--tcp',
    `--${format}`,
    '-t',
    tag,
    ...extra,
    msg,
  ]);
}
