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
 * The page's paths as the docs app names them: plain segments, no dot segments, no escapes, no
 * empty segments. The docs' static server resolves `./x`, `a/../x` and `%73x` to the same file;
 * refusing those keeps the set of paths that answer 200 finite, so every answer can be kept.
 */
const PAGE_PATH = /^\/api\/docs(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*\/?$/;
/** The page's answers once fetched (its files are ~2.5 MB in all): a bound should that grow. */
const CACHE_BYTES = 8 * 1024 * 1024;

/**
 * The OpenAPI document and its browsable page, built on their first request in a Fastify app of
 * their own: swagger, its YAML and schema resolvers and the page's static server are a few MB of
 * heap that an agent nobody browses need not hold. That app registers the same routes (`routes`)
 * so the document describes them, but no request reaches one of its handlers: only the page's
 * own routes answer there, GET only, anything else is a 404.
 */
export class ApiDocs {
  private app: Promise<FastifyInstance> | null = null;
  private readonly answers = new Map<string, Promise<Answer>>();
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly routes: (app: FastifyInstance) => void,
    private readonly options: SwaggerOptions,
  ) {}

  /** The OpenAPI document (GET /api/openapi.json). */
  async document(): Promise<unknown> {
    return (await this.docsApp()).swagger();
  }

  /** GET /api/docs and below: the page, answered by the docs app (HEAD: Fastify drops the body). */
  async page(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const a = PAGE_PATH.test(path) ? await this.fetch(path) : null;
    // the API's own 404, whichever app found nothing
    if (a === null || a.status === 404) {
      reply.callNotFound();
      return reply;
    }
    for (const [k, v] of Object.entries(a.headers))
      if (v !== undefined && k !== 'connection' && k !== 'transfer-encoding' && k !== 'keep-alive')
        reply.header(k, v);
    return reply.code(a.status).send(a.body);
  }

  /**
   * The docs app's answer for `path`, shared: requests for one path while it is fetched wait for
   * the same answer, and a 200 is kept, so a burst of pipelined requests holds one copy of it.
   */
  private fetch(path: string): Promise<Answer> {
    let p = this.answers.get(path);
    if (p === undefined) {
      p = this.answer(path).then(
        (a) => {
          if (a.status === 200 && this.bytes + a.body.length <= CACHE_BYTES) this.bytes += a.body.length;
          else this.answers.delete(path);
          return a;
        },
        (err: unknown) => {
          this.answers.delete(path);
          throw err;
        },
      );
      this.answers.set(path, p);
    }
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    const app = this.app;
    this.app = null;
    this.answers.clear();
    this.bytes = 0;
    if (app) await (await app.catch(() => null))?.close();
  }

  private async answer(path: string): Promise<Answer> {
    const r = await (await this.docsApp()).inject({ method: 'GET', url: path });
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
