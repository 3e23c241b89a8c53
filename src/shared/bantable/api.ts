/**
 * The public surface of the ban state. Servers (SPOA, gRPC, HTTP) and the engine code
 * against these declarations; the implementation lives beside this file.
 *
 * Time is unix seconds (u32). `expiresAt === 0` means "never" (permanent list entries).
 * Lookups are synchronous, allocation-free and never wait: callers pass `now` (seconds) once per
 * batch of work so no clock is read per lookup.
 */

/** What an entry is. Precedence when several match: WHITELIST > BLACKLIST > TEMP_BAN. */
export const Kind = {
  NONE: 0,
  TEMP_BAN: 1,
  BLACKLIST: 2,
  WHITELIST: 3,
} as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];

/** Verdict for one address. */
export const Verdict = {
  ALLOW: 0,
  DENY: 1,
} as const;
export type VerdictCode = (typeof Verdict)[keyof typeof Verdict];

/**
 * Filled in place by a lookup so callers can say why and until when without allocating.
 * Reuse one instance per server.
 */
export class LookupResult {
  verdict: VerdictCode = Verdict.ALLOW;
  /** Kind of the deciding entry (NONE when nothing matched). */
  kind: KindCode = Kind.NONE;
  /** Expiry of the deciding entry in unix seconds; 0 = permanent or no entry. */
  expiresAt = 0;
  /** Offence count stored with the deciding entry (temporary bans). */
  offences = 0;
  /** Reason id of the deciding entry; the writer side maps it to text (`BanTable.reasonText`). */
  reasonId = 0;
  /** Prefix length of the deciding entry (32/128 for an exact address, less for a range). */
  prefixLen = 0;
  /**
   * Service id (services.ts) whose scoped ban decided; SERVICE_SOME for a request naming no
   * service that a scoped ban denied; -1 when the deciding entry covers every service.
   */
  service = -1;
  /** A visited entry carries the scoped mark: the per-service tables have something for it. */
  scoped = false;

  reset(): void {
    this.verdict = Verdict.ALLOW;
    this.kind = Kind.NONE;
    this.expiresAt = 0;
    this.offences = 0;
    this.reasonId = 0;
    this.prefixLen = 0;
    this.service = -1;
    this.scoped = false;
  }
}
