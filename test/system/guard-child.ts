/**
 * A process that installs the process guard the way `edgeban serve` does and serves HTTP:
 * `/metrics` (its registry), `/ping`, and commands that make something go wrong outside any
 * handler: `/throw` (an uncaught exception from a timer), `/reject` (an unhandled rejection),
 * `/engine` (a throw from inside the ban engine, fatal by design). `STARTUP=throw` throws before
 * the guard is told the start-up is over. Prints `port=N` once listening.
 */
import { createServer } from 'node:http';
import pino from 'pino';
import { createCore } from '../../src/main/core.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { installProcessGuard } from '../../src/main/system/guard.js';

const log = pino({ level: 'info' }, pino.destination({ dest: 1, sync: true }));
const guard = installProcessGuard(log, { windowMs: 60_000 });
const metrics = new Metrics({ defaultMetrics: false });
guard.useRegistry(metrics.registry);
const { engine } = createCore({ nodeId: 'guard-test' });

if (process.env.STARTUP === 'throw') {
  setTimeout(() => {
    throw new Error('thrown while starting');
  }, 10);
} else {
  const server = createServer((req, res) => {
    switch (req.url) {
      case '/throw':
        setTimeout(() => {
          throw new Error('boom outside any handler');
        }, 0);
        break;
      case '/reject':
        Promise.reject(new Error('nobody awaits this'));
        break;
      case '/engine':
        setTimeout(() => engine.recordFailure(null as unknown as Uint8Array, 4, 'p', Date.now()), 0);
        break;
      case '/metrics':
        metrics.registry.metrics().then((t) => res.end(t));
        return;
    }
    res.end('pong');
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    guard.serving();
    process.stdout.write(`port=${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}
