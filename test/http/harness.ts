import { Agent, request } from 'undici';
import type { Config } from '../../src/main/config/types.js';
import { createCore } from '../../src/main/core.js';
import { HttpService } from '../../src/main/http/server.js';
import type { Store } from '../../src/main/store/types.js';
import { freePort } from '../helpers/net.js';
import { testContext } from '../ingest/harness.js';

/** The HTTP service in this process on a free loopback port, with its own table and engine. */
export async function startHttp(mutate: (c: Config) => void = () => {}, store: Store | null = null) {
  const port = await freePort();
  const ctx = testContext((c) => {
    c.nginx.address = '127.0.0.1';
    c.nginx.port = port;
    c.api.rate_limiting.requests_per_minute = 10_000;
    mutate(c);
  });
  const { table, engine } = createCore({
    config: ctx.config,
    nodeId: 'test-node',
    initialCapacity: 1024,
    log: ctx.log,
    metrics: ctx.metrics,
  });
  const svc = new HttpService(ctx, { table, engine, store: () => store });
  await svc.start();
  const agents = new Map<string, Agent>();
  const agentFor = (from: string) => {
    let a = agents.get(from);
    if (!a) {
      a = new Agent({ localAddress: from });
      agents.set(from, a);
    }
    return a;
  };
  /** One request; `from` picks the source address (127.0.0.x), JSON bodies are sent as JSON. */
  const call = async (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts: { body?: unknown; raw?: string; headers?: Record<string, string>; from?: string } = {},
  ) => {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await request(`http://127.0.0.1:${port}${path}`, {
      method,
      headers,
      body,
      dispatcher: agentFor(opts.from ?? '127.0.0.1'),
    });
    const text = await res.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    return { status: res.statusCode, headers: res.headers, text, json };
  };
  const close = async () => {
    await svc.stop();
    for (const a of agents.values()) await a.close();
  };
  return { port, ctx, table, engine, svc, call, close };
}

export type HttpHarness = Awaited<ReturnType<typeof startHttp>>;
