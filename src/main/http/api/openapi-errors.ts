/**
 * Error answers of the API, added to every route of the OpenAPI document only (the runtime
 * serialises them itself): 401/403/429 can come from the gate and the rate limiter on any route,
 * 400/413 from any route with a body or query.
 */

const errorBody = {
  type: 'object',
  additionalProperties: true,
  properties: {
    success: { type: 'boolean', example: false },
    message: { type: 'string', example: 'body.ip_address: required' },
    error: { type: 'string', example: 'E_VALIDATION' },
  },
} as const;

const text = (description: string, example: string) => ({
  description,
  content: { 'text/plain': { schema: { type: 'string', example } } },
});

const ERRORS = {
  400: { description: 'Invalid request (the message names every bad field)', ...errorBody },
  401: text(
    'Credentials missing or wrong (when api.basic_auth or api.tokens is configured)',
    'Authentication required',
  ),
  403: text('The TCP peer is not in api.allowed_ips', 'Access denied'),
  413: {
    description: 'Body over 64 KiB',
    ...errorBody,
    properties: { ...errorBody.properties, error: { type: 'string', example: 'FST_ERR_CTP_BODY_TOO_LARGE' } },
  },
  429: {
    description:
      'Rate limit exceeded (E_RATE_LIMIT) or too many failed logins from this peer (E_AUTH_BACKOFF); ' +
      'the Retry-After header says when to come back',
    headers: { 'Retry-After': { schema: { type: 'integer', example: 30 }, description: 'seconds' } },
    ...errorBody,
    properties: {
      ...errorBody.properties,
      error: { type: 'string', example: 'E_RATE_LIMIT' },
      retry_after_seconds: { type: 'integer', example: 30 },
    },
  },
} as const;

interface RouteSchema {
  hide?: boolean;
  body?: unknown;
  querystring?: unknown;
  response?: Record<string, unknown>;
  [key: string]: unknown;
}

/** @fastify/swagger `transform`: the route's own responses win over these defaults. */
export function withErrorResponses({ schema, url }: { schema: unknown; url: string }): {
  schema: RouteSchema;
  url: string;
} {
  const s = (schema ?? {}) as RouteSchema;
  if (s.hide) return { schema: s, url };
  const errors: Record<string, unknown> = { 401: ERRORS[401], 403: ERRORS[403], 429: ERRORS[429] };
  if (s.body !== undefined || s.querystring !== undefined || s.params !== undefined)
    errors[400] = ERRORS[400];
  if (s.body !== undefined) errors[413] = ERRORS[413];
  return { schema: { ...s, response: { ...errors, ...s.response } }, url };
}
