/**
 * Every stable error code edgeban answers or raises, with the HTTP status it carries and what it
 * means, in one place. The error classes build their own messages and carry typed fields; only
 * the code → status pairing lives here.
 * API clients and operators depend on these codes: add codes, never rename one.
 * `EdgebanError` only takes a code listed here, so a code cannot exist without its status.
 */
export const ERROR_CODES = {
  // bad input: the request (or config, or command line) is wrong
  E_INVALID_IP: { status: 400, meaning: 'an address or CIDR that does not parse' },
  E_PREFIX_TOO_SHORT: { status: 400, meaning: 'a ban or list target wider than ban.min_prefix_v4/v6' },
  E_PATTERN: { status: 400, meaning: 'a pattern that cannot be compiled or used' },
  E_BAN_CONFIG: { status: 400, meaning: 'a ban_config row outside the validation rules' },
  E_VALIDATION: { status: 400, meaning: 'a request body or query that fails its schema' },
  E_REQUEST: { status: 400, meaning: 'a request the HTTP layer refused (its own 4xx status is sent)' },
  E_CONFIG: { status: 400, meaning: 'invalid configuration' },
  E_USAGE: { status: 400, meaning: 'a command line the CLI cannot run' },
  E_BANTABLE: { status: 400, meaning: 'an entry the ban table cannot hold' },
  E_JAIL: { status: 400, meaning: 'a jail whose keys fail validation (config file, jails row, API body)' },
  E_UNKNOWN_JAIL: { status: 400, meaning: 'a ban naming a jail that is not configured' },
  E_INVALID_SERVICE: { status: 400, meaning: 'a service name that is not [a-z0-9_.-], 1-32 characters' },
  E_FLEET_MESSAGE: { status: 400, meaning: 'a fleet message from another node that does not decode' },
  // the caller may not do this
  E_READ_ONLY: { status: 403, meaning: 'a change asked by a user in api.read_only_users' },
  // conflicts with the stored state
  E_DUPLICATE: { status: 409, meaning: 'a pattern name that is already taken' },
  E_LAST_PATTERN: { status: 409, meaning: 'a change that would leave no enabled pattern' },
  E_JAIL_DUPLICATE: { status: 409, meaning: 'a jail name that is already taken in the database' },
  E_JAIL_CONFIG_OWNED: {
    status: 409,
    meaning: 'a jail defined in the config file (or the default jail): the API cannot change it',
  },
  // the caller must slow down
  E_RATE_LIMIT: { status: 429, meaning: 'api.rate_limiting exceeded for this peer' },
  E_AUTH_BACKOFF: { status: 429, meaning: 'too many failed authentications from this peer' },
  // edgeban's side
  E_INTERNAL: { status: 500, meaning: 'an unexpected failure (logged; the answer says no more)' },
  E_PROTO: { status: 500, meaning: 'the ext_authz .proto and the codec disagree' },
  E_LISTEN: { status: 500, meaning: 'a listener cannot bind its address' },
  E_SPOA_OUTPUT: { status: 500, meaning: 'an SPOP answer larger than its buffer' },
  E_SNAPSHOT: { status: 500, meaning: 'a ban table or ban state snapshot that is not one, or is corrupt' },
  E_DB_CONFIG: { status: 500, meaning: 'a database configuration edgeban cannot use' },
  E_FAIL2BAN_CONFIG: {
    status: 400,
    meaning: 'a fail2ban configuration tree that cannot be read or translated',
  },
  E_FAIL2BAN_NOT_FOUND: { status: 400, meaning: 'a fail2ban filter or jail that is not in the tree' },
  E_HAPROXY_CLI: { status: 502, meaning: "HAProxy's runtime API refused or failed a command" },
  E_NFTABLES_UNAVAILABLE: {
    status: 500,
    meaning: 'nft cannot be used (missing, no CAP_NET_ADMIN, a foreign table)',
  },
  E_NFTABLES_BATCH: { status: 500, meaning: 'one nft -f - batch failed (the sets are resynced)' },
  E_API: { status: 502, meaning: 'the CLI cannot reach or understand the API' },
  E_FILE_SOURCE: { status: 500, meaning: 'a followed log file path that is not a readable regular file' },
  E_DB_UNAVAILABLE: { status: 503, meaning: 'the database cannot be reached right now' },
  E_DB_DISABLED: { status: 503, meaning: 'the request needs the database and database.enabled is false' },
  E_DB_OPEN: { status: 503, meaning: 'the database cannot be opened at start (database.optional is false)' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status of `code`. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** True when `code` is one of the catalogue's (codes from elsewhere, e.g. Fastify's, are not). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}
