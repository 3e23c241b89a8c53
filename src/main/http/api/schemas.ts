/** JSON schemas shared by the routes: validated by Ajv, published in the OpenAPI document. */

export const ipField = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  description: 'IPv4 or IPv6 address, or a CIDR (10.0.0.0/8, 2001:db8::/64)',
  example: '203.0.113.7',
} as const;

export const durationField = {
  anyOf: [
    { type: 'string', maxLength: 32, description: 'Go duration: "30m", "1h30m", "2h45m30s"' },
    { type: 'number', description: 'seconds' },
  ],
  description: 'Ban length: a duration string or a number of seconds; omitted or 0 = the escalation schedule',
  example: '1h30m',
} as const;

export const reasonField = { type: 'string', maxLength: 512, example: 'password spraying on imap' } as const;
export const createdByField = { type: 'string', maxLength: 128, example: 'ops-oncall' } as const;

export const forceField = {
  type: 'boolean',
  description: 'apply a prefix wider than ban.min_prefix_v4 / ban.min_prefix_v6 (e.g. 0.0.0.0/0)',
} as const;

export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    offset: { type: 'integer', minimum: 0, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
    filter: {
      type: 'string',
      maxLength: 64,
      description: 'substring of the address, or a CIDR the entries lie in',
      example: '203.0.113.0/24',
    },
  },
} as const;

/** A jail name in a request. */
export const jailField = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
  description: 'the jail the ban belongs to (its escalation and services); default `default`',
  example: 'sshd',
} as const;

/** The services a ban covers; empty = every service. */
export const servicesField = {
  type: 'array',
  maxItems: 32,
  items: { type: 'string', minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
  description: "services the ban covers (overrides the jail's); empty = every service",
  example: ['imap', 'smtp'],
} as const;

/** GET /api/temp-bans: the list query plus jail and shadow. */
export const tempBansQuery = {
  ...listQuery,
  properties: {
    ...listQuery.properties,
    jail: jailField,
    shadow: { type: 'boolean', description: "true: the shadow jails' would-be bans instead" },
  },
} as const;

export const ipBody = {
  type: 'object',
  additionalProperties: false,
  required: ['ip_address'],
  properties: { ip_address: ipField, reason: reasonField, created_by: createdByField, force: forceField },
} as const;

export const okResponse = {
  type: 'object',
  additionalProperties: true,
  properties: {
    success: { type: 'boolean', example: true },
    message: { type: 'string', example: 'IP 203.0.113.7 temporarily banned for 1h30m0s' },
  },
} as const;
