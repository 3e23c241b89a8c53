import type { request } from 'undici';
import { EdgebanError } from '../../shared/errors.js';

/** Where and how the CLI reaches a running edgeban's API. */
export interface ApiTarget {
  url: string;
  user?: string;
  password?: string;
  token?: string;
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Seconds from the answer's Retry-After header (429, 503), when it has one. */
  retryAfter?: number;
}

/**
 * One call to the REST API. Network failures and non-JSON answers become an EdgebanError
 * (`E_API`) with a message saying what to check; 4xx/5xx answers are returned for the caller.
 */
export async function callApi(
  target: ApiTarget,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  else if (target.user !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${target.user}:${target.password ?? ''}`).toString('base64')}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Awaited<ReturnType<typeof request>>;
  try {
    // loaded here: `edgeban serve` imports this module (for the usage text) and never calls it
    const { request: send } = await import('undici');
    res = await send(new URL(path, target.url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  } catch (err) {
    throw new EdgebanError(
      'E_API',
      `cannot reach edgeban at ${target.url}: ${(err as Error).message} (is it running? --url / EDGEBAN_URL)`,
    );
  }
  const text = await res.body.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { success: false, message: text.trim() || `HTTP ${res.statusCode}` };
  }
  const ra = res.headers['retry-after'];
  const retryAfter = typeof ra === 'string' && /^\d+$/.test(ra.trim()) ? Number(ra) : undefined;
  return { status: res.statusCode, body: parsed, retryAfter };
}
