import type { SwaggerOptions } from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/** Where the browsable page lives, in the API's app and in the docs' own. */
export const DOCS_PREFIX = '/api/docs';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
}

/**
 * Static files of the page kept once fetched (a few files, the largest about 1.7 MB), keyed by
 * path without the query and bounded in bytes, so that no client can make it hold more.
 */
const STATIC_PREFIX = `${DOCS_PREFIX}/static/`;
const STATIC_CACHE_BYTES = 8 * 1024 * 1024;

/**
 * The OpenAPI document and its browsable page, built on their first request in a Fastify app of
 * their own: swagger, its YAML and schema resolvers and the page's static server are a few MB of
 * heap that an agent nobody browses need not hold. That app registers the same routes (`routes`)
 * so the document describes them, but no request reaches one of its handlers: only the page's
 * own routes answer there, GET and HEAD, anything else is a 404.
 */
export class ApiDocs {
  private app: Promise<FastifyInstance> | null = null;
  private readonly statics = new Map<string, Answer>();
  private staticBytes = 0;
  private closed = false;

  constructor(
    private readonly routes: (app: FastifyInstance) => void,
    private readonly options: SwaggerOptions,
  ) {}

  /** The OpenAPI document (GET /api/openapi.json). */
  async document(): Promise<unknown> {
    return (await this.docsApp()).swagger();
  }

  /** GET /api/docs and below: the page, answered by the docs app. */
  async page(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const cached = path.startsWith(STATIC_PREFIX) ? this.statics.get(path) : undefined;
    const a = cached ?? (await this.answer(req.method === 'HEAD' ? 'HEAD' : 'GET', url));
    // the API's own 404, whichever app found nothing
    if (a.status === 404) {
      reply.callNotFound();
      return reply;
    }
    if (cached === undefined && a.status === 200 && req.method === 'GET' && path.startsWith(STATIC_PREFIX))
      if (this.staticBytes + a.body.length <= STATIC_CACHE_BYTES) {
        this.statics.set(path, a);
        this.staticBytes += a.body.length;
      }
    for (const [k, v] of Object.entries(a.headers))
      if (v !== undefined && k !== 'connection' && k !== 'transfer-encoding' && k !== 'keep-alive')
        reply.header(k, v);
    return reply.code(a.status).send(a.body);
  }

  async close(): Promise<void> {
    this.closed = true;
    const app = this.app;
    this.app = null;
    this.statics.clear();
    this.staticBytes = 0;
    if (app) await (await app.catch(() => null))?.close();
  }

  private async answer(method: 'GET' | 'HEAD', url: string): Promise<Answer> {
    const r = await (await this.docsApp()).inject({ method, url });
    return { status: r.statusCode, headers: r.headers, body: r.rawPayload };
  }

  private docsApp(): Promise<FastifyInstance> {
    if (this.closed) return Promise.reject(new Error('API docs closed'));
    this.app ??= this.build().catch((err: unknown) => {
      // a failed build is retried on the next request rather than cached
      this.app = null;
      throw err;
    });
    return this.app;
  }

  private async build(): Promise<FastifyInstance> {
    const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([
      import('@fastify/swagger'),
      import('@fastify/swagger-ui'),
    ]);
    const app = Fastify({ logger: false });
    // the routes are registered to be described, never run: nothing to compile for them
    app.setValidatorCompiler(() => () => true);
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    app.addHook('onRequest', async (req, reply) => {
      const route = req.routeOptions.url ?? '';
      if (route !== DOCS_PREFIX && !route.startsWith(`${DOCS_PREFIX}/`)) return reply.code(404).send();
    });
    await app.register(swagger, this.options);
    await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
    await app.register(async (api) => this.routes(api));
    await app.ready();
    return app;
  }
}
