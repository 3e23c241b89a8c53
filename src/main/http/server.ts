import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { BanTable } from '../../shared/bantable/table.js';
import { type ErrorCode, statusOf } from '../../shared/error-codes.js';
import { EdgebanError, InvalidAddressError } from '../../shared/errors.js';
import type { Config } from '../config/types.js';
import { Assets } from '../console/assets.js';
import { Console } from '../console/console.js';
import { consoleRoutes } from '../console/routes.js';
import type { BanEngine } from '../engine/engine.js';
import { asError } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import { counterFeed, FeedSet } from '../metrics/feed.js';
import type { LatencyRecorder } from '../metrics/latency.js';
import { feedProxyMetrics } from '../metrics/verdicts.js';
import type { AppContext, Service } from '../service.js';
import type { Store } from '../store/types.js';
import type { ApiDeps } from './api/context.js';
import { ApiDocs, DOCS_PREFIX } from './api/docs.js';
import { eventRoutes } from './api/events.js';
import { withErrorResponses } from './api/openapi-errors.js';
import { banRoutes } from './api/routes-bans.js';
import { historyRoutes } from './api/routes-history.js';
import { jailRoutes } from './api/routes-jails.js';
import { listRoutes } from './api/routes-lists.js';
import { policyRoutes } from './api/routes-policy.js';
import { ApiGate } from './api/security.js';
import { AuthRequestHandler } from './auth-request.js';

/**
 * The HTTP port (nginx.port): Nginx's `/auth` and `/health` are answered straight from the
 * node:http request handler (one lookup, no framework on that path); everything else goes to a
 * Fastify instance with the REST API, its OpenAPI document and the reference's status endpoints.
 */

export interface HttpDeps {
  table: BanTable;
  engine: BanEngine;
  store: () => Store | null;
  /** `/ready`: the subsystems' states (App); absent: 200 as soon as the port serves. */
  ready?: () => { httpStatus: number; body: Record<string, unknown> };
}

const BODY_LIMIT = 64 * 1024;

/** The package's version, for the OpenAPI document. */
const PACKAGE_VERSION = readPackageVersion();

function readPackageVersion(): string {
  // dist/src/main/http/server.js and src/main/http/server.ts both sit under the package root
  for (const rel of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'edgeban' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}

export class HttpService implements Service {
  readonly name = 'http';
  readonly auth: AuthRequestHandler;
  readonly app: FastifyInstance;
  private readonly gate: ApiGate;
  private server!: Server;
  private readonly feeds = new FeedSet();
  /** /auth answer times (the verdict is made and written synchronously). */
  private latency: LatencyRecorder | null = null;
  /** /auth requests that failed before a verdict (answered 500). */
  private authErrors = 0;
  private readonly authLog: LogThrottle;
  private apiEnabled: boolean;
  readonly console: Console | null;
  /** The OpenAPI document and page, built on their first request. */
  private docs: ApiDocs | null = null;

  constructor(
    private readonly ctx: AppContext,
    private readonly deps: HttpDeps,
  ) {
    const cfg = ctx.config;
    const log = ctx.log.child({ subsystem: 'http' });
    this.auth = new AuthRequestHandler(deps.table, cfg.nginx, {
      // denials only: the ban's own reason (a map lookup in the engine), never on the allow path
      reasonOf: (ip) => deps.engine.status(ip).reason,
      services: deps.table.services,
      log,
    });
    this.authLog = new LogThrottle(log);
    this.feedMetrics();
    this.gate = new ApiGate(cfg.api, ctx.log.child({ subsystem: 'api' }));
    this.apiEnabled = cfg.api.enabled;
    // the console's samples and recent bans: only with the API that serves them
    this.console = this.apiEnabled ? new Console(ctx.metrics.registry, deps.engine) : null;
    const auth = this.auth;
    const strict = new Ajv({
      allErrors: true,
      removeAdditional: false,
      useDefaults: true,
      coerceTypes: false,
      strict: false,
    });
    const coercing = new Ajv({
      allErrors: true,
      removeAdditional: false,
      useDefaults: true,
      coerceTypes: true,
      strict: false,
    });
    this.app = Fastify({
      bodyLimit: BODY_LIMIT,
      logger: false,
      return503OnClosing: true,
      schemaErrorFormatter: formatSchemaErrors,
      serverFactory: (handler) => {
        this.server = createServer(
          {
            requestTimeout: cfg.nginx.read_timeout,
            // a client trickling its headers (slowloris) is cut at the read timeout too, and
            // checked every second rather than node's default 30 s
            headersTimeout: cfg.nginx.read_timeout,
            connectionsCheckingInterval: Math.min(1000, cfg.nginx.read_timeout),
            keepAliveTimeout: 60_000,
          },
          (req: IncomingMessage, res: ServerResponse) => {
            const url = req.url ?? '';
            // `/auth/<path>` too: Envoy's HTTP-service ext_authz appends the original path
            if (url === '/auth' || (url.startsWith('/auth') && (url[5] === '?' || url[5] === '/')))
              this.answerAuth(req, res);
            else if (url === '/health') auth.health(res);
            else if (url === '/ready') this.ready(res);
            else handler(req, res);
          },
        );
        // the reference's write timeout: a client that stops reading is dropped
        this.server.timeout = cfg.nginx.write_timeout;
        return this.server;
      },
    });
    // compiled on a route's first request, not at start: most routes of an idle agent are never
    // called, and every compiled validator is generated code kept on the heap
    this.app.setValidatorCompiler(({ schema, httpPart }) => {
      const ajv = httpPart === 'body' ? strict : coercing;
      let check: ValidateFunction | undefined;
      const lazy = (data: unknown): boolean => {
        check ??= ajv.compile(schema);
        const ok = check(data);
        lazy.errors = check.errors;
        return ok;
      };
      lazy.errors = null as ErrorObject[] | null | undefined;
      return lazy;
    });
    this.app.setErrorHandler((err: FastifyError, req, reply) => {
      if (err instanceof InvalidAddressError) {
        return reply.code(err.statusCode).send({
          success: false,
          message: `invalid IP address: ${err.input}`,
          detail: err.message,
          ip_address: err.input,
          error: err.code,
        });
      }
      if (err instanceof EdgebanError) {
        return reply.code(err.statusCode).send({ success: false, message: err.message, error: err.code });
      }
      const status = err.statusCode ?? 500;
      if (status < 500) {
        return reply.code(status).send({
          success: false,
          message: err.message,
          error: err.code ?? ('E_REQUEST' satisfies ErrorCode),
        });
      }
      const peer = req.socket.remoteAddress ?? '';
      // a request that keeps failing the same way is one line a minute, with the count
      this.gate.throttle.error('api-internal-error', peer, { err, url: req.url, peer }, 'API request failed');
      return reply
        .code(statusOf('E_INTERNAL'))
        .send({ success: false, message: 'internal error', error: 'E_INTERNAL' satisfies ErrorCode });
    });
    this.app.setNotFoundHandler((_req, reply) => {
      reply.code(404).type('text/plain; charset=utf-8').send('404 page not found');
    });
    if (this.apiEnabled) this.registerApi();
  }

  private registerApi(): void {
    const cfg = this.ctx.config.api;
    const gate = this.gate;
    // peers seen in the last minute, for GET /api/security-status
    const seen = new Map<string, number>();
    const activeClients = (): number => {
      const cutoff = Date.now() - 60_000;
      for (const [peer, at] of seen) if (at < cutoff) seen.delete(peer);
      return seen.size;
    };
    const apiDeps: ApiDeps = {
      engine: this.deps.engine,
      table: this.deps.table,
      store: this.deps.store,
      gate,
      log: this.ctx.log.child({ subsystem: 'api' }),
      rateLimit: {
        enabled: cfg.rate_limiting.enabled,
        perMinute: cfg.rate_limiting.requests_per_minute,
        activeClients,
      },
    };
    // every request that reaches Fastify is an API or status request: gate them all
    gate.decorate(this.app);
    this.app.addHook('onRequest', async (req, reply) => {
      const denied = gate.check(req, reply);
      if (denied) return denied;
      if (seen.size > 10_000) activeClients();
      seen.set(req.socket.remoteAddress ?? '', Date.now());
    });
    if (cfg.rate_limiting.enabled) {
      this.app.register(rateLimit, {
        max: cfg.rate_limiting.requests_per_minute,
        timeWindow: 60_000,
        // the TCP peer, never a forwarding header
        keyGenerator: (req) => req.socket.remoteAddress ?? '',
        // runs after the gate (route hooks follow app hooks), so req.caller is known
        allowList: (req) => gate.rateLimitExempt(req),
        onExceeded: (req) => {
          const peer = req.socket.remoteAddress ?? '';
          gate.throttle.warn('api-rate-limit', peer, { peer, url: req.url }, 'API rate limit exceeded');
        },
        errorResponseBuilder: (_req, ctx) => ({
          statusCode: statusOf('E_RATE_LIMIT'),
          success: false,
          message: 'Rate limit exceeded',
          error: 'E_RATE_LIMIT' satisfies ErrorCode,
          retry_after_seconds: Math.ceil(ctx.ttl / 1000),
        }),
        cache: 100_000,
      });
    }
    const consoleDeps = this.console
      ? {
          console: this.console,
          assets: new Assets(),
          ready: this.deps.ready,
          canWrite: (req: FastifyRequest) => gate.canWrite(req.caller?.user ?? null),
          version: PACKAGE_VERSION,
          startedAt: Date.now(),
        }
      : null;
    const routes = (api: FastifyInstance): void => {
      banRoutes(api, apiDeps);
      listRoutes(api, apiDeps);
      historyRoutes(api, apiDeps);
      policyRoutes(api, apiDeps);
      jailRoutes(api, apiDeps);
      eventRoutes(api, apiDeps);
      if (consoleDeps) consoleRoutes(api, apiDeps, consoleDeps);
    };
    const docs = new ApiDocs(routes, {
      transform: withErrorResponses,
      openapi: {
        info: {
          title: 'edgeban API',
          version: PACKAGE_VERSION,
          description:
            'Bans, lists and policy of an edgeban node. Reachable from api.allowed_ips only (TCP peer); ' +
            'Basic auth and bearer tokens when configured.',
        },
        components: {
          securitySchemes: {
            basicAuth: { type: 'http', scheme: 'basic' },
            bearerAuth: { type: 'http', scheme: 'bearer' },
          },
        },
        security: [{ basicAuth: [] }, { bearerAuth: [] }],
      },
    });
    this.docs = docs;
    this.app.register(async (api) => {
      routes(api);
      const hide = { schema: { hide: true } };
      api.get('/api/openapi.json', hide, async () => docs.document());
      api.get(DOCS_PREFIX, hide, (req, reply) => docs.page(req, reply));
      api.get(`${DOCS_PREFIX}/*`, hide, (req, reply) => docs.page(req, reply));
    });
  }

  async start(): Promise<void> {
    const n = this.ctx.config.nginx;
    await this.app.listen({ host: n.address, port: n.port });
    this.console?.start();
    this.ctx.log.info(
      { address: n.address, port: n.port, api: this.apiEnabled },
      `HTTP listening on ${n.address}:${n.port} (/auth, /health, /ready${this.apiEnabled ? ', /api' : ''})`,
    );
  }

  /** Readiness for orchestrators and the image's HEALTHCHECK, beside Nginx's /health. */
  private ready(res: ServerResponse): void {
    const r = this.deps.ready?.() ?? { httpStatus: 200, body: { status: 'ready', checks: {} } };
    res.writeHead(r.httpStatus, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(r.body));
  }

  reload(config: Config): void {
    this.auth.reload(config.nginx);
    this.gate.configure(config.api);
  }

  /** /auth, timed; a throw costs this answer (a 500, counted as an error), never the process. */
  private answerAuth(req: IncomingMessage, res: ServerResponse): void {
    const latency = this.latency;
    const t0 = latency ? performance.now() : 0;
    try {
      this.auth.auth(req, res);
    } catch (err) {
      this.authErrors++;
      this.authLog.error(
        'http-auth-failed',
        '',
        { err: asError(err) },
        '/auth failed before a verdict: answered 500',
      );
      if (!res.headersSent) res.writeHead(500, { 'content-length': '0' });
      res.end();
    }
    if (latency) latency.observeMs(performance.now() - t0);
  }

  /** Prometheus reads /auth's plain counters at scrape. */
  private feedMetrics(): void {
    const m = this.ctx.metrics;
    const c = this.auth.counters;
    const f = this.feeds;
    f.add(m.requests.add(() => c.allowed, { service: 'nginx', result: 'allowed' }));
    f.add(m.requests.add(() => c.denied, { service: 'nginx', result: 'denied' }));
    // an answer without a usable address follows nginx.missing_ip_policy: allowed or denied
    this.latency = feedProxyMetrics(m, f, 'nginx', {
      allowed: () => c.allowed,
      denied: () => c.denied,
      error: () => this.authErrors,
    });
    f.add(m.requests.add(() => c.noAddress, { service: 'nginx', result: 'no_ip' }));
    f.add(
      counterFeed(
        m.registry,
        'edgeban_http_untrusted_forwarding_total',
        'Forwarding headers (X-Original-IP, X-Forwarded-For, …) from peers outside nginx.trusted_proxies, ignored',
      ).add(() => c.untrustedForwarding),
    );
  }

  async stop(): Promise<void> {
    this.console?.stop();
    this.feeds.detach();
    this.auth.throttle?.close();
    this.gate.throttle.close();
    this.authLog.close();
    // SSE streams and idle keep-alive sockets must not hold the shutdown
    this.server?.closeIdleConnections();
    const closing = Promise.all([this.app.close(), this.docs?.close()]);
    const t = setTimeout(() => this.server?.closeAllConnections(), 5_000);
    await closing;
    clearTimeout(t);
  }
}

export function createHttpService(ctx: AppContext, deps: HttpDeps): HttpService {
  return new HttpService(ctx, deps);
}

/** Ajv errors as one message naming every field (`body.duration: must be string`). */
function formatSchemaErrors(errors: ErrorObject[], dataVar: string): Error {
  // an anyOf (duration: string or number) fails with one error per branch: say it once
  const anyOf = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const parts = errors
    .filter((e) => !(anyOf.has(e.instancePath) && e.keyword === 'type'))
    .map((e) => {
      const path = dataVar + e.instancePath.replace(/\//g, '.');
      if (e.keyword === 'anyOf') return `${path}: must be a duration string ("1h30m") or a number of seconds`;
      if (e.keyword === 'additionalProperties')
        return `${path}.${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`;
      if (e.keyword === 'required')
        return `${path}.${(e.params as { missingProperty: string }).missingProperty}: required`;
      return `${path}: ${e.message ?? 'invalid'}`;
    });
  const err = new Error([...new Set(parts)].join('; ')) as Error & { statusCode: number; code: string };
  const code: ErrorCode = 'E_VALIDATION';
  err.code = code;
  err.statusCode = statusOf(code);
  return err;
}
