import { createServer, type Server } from 'node:http';
import { EdgebanError } from '../../shared/errors.js';
import type { AppContext, Service } from '../service.js';

/** Prometheus endpoint on prometheus.address:port + path, plus `/health`. */
export function createMetricsService(ctx: AppContext): Service & { port(): number } {
  const cfg = ctx.config.prometheus;
  let server: Server | null = null;
  // one collection at a time, shared by every scrape waiting for it: a flood of pipelined
  // scrapes costs one collection, not one each
  let inFlight: Promise<string> | null = null;
  const collect = (): Promise<string> => {
    inFlight ??= ctx.metrics.registry.metrics().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  return {
    name: 'metrics',
    port: () => {
      const a = server?.address();
      return a && typeof a === 'object' ? a.port : 0;
    },
    start: () =>
      new Promise((resolve, reject) => {
        const s = createServer((req, res) => {
          const path = (req.url ?? '/').split('?')[0];
          if (path === cfg.path && (req.method === 'GET' || req.method === 'HEAD')) {
            collect().then(
              (text) => {
                res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
                res.end(text);
              },
              (err: Error) => {
                ctx.log.error({ subsystem: 'metrics', err }, 'metrics collection failed');
                res.writeHead(500).end();
              },
            );
          } else if (path === '/health') {
            res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
          } else {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
          }
        });
        // a scraper reuses its connection; past this many requests on one, the rest get a cheap
        // 503 and the connection is closed, so pipelined requests cannot pile up answers
        s.maxRequestsPerSocket = 64;
        s.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            new EdgebanError(
              'E_LISTEN',
              `cannot listen on ${cfg.address}:${cfg.port} (prometheus.address/prometheus.port): ${err.code ?? err.message}`,
              {
                cause: err,
              },
            ),
          ),
        );
        s.listen(cfg.port, cfg.address, () => {
          server = s;
          resolve();
        });
      }),
    stop: () =>
      new Promise((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
