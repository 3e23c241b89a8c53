import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, statusOf } from '../../../shared/error-codes.js';
import { CidrFilter } from '../../../shared/ip/cidr-filter.js';
import type { ApiConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import { LogThrottle } from '../../log/throttle.js';
import { AuthBackoff } from './auth-backoff.js';

/**
 * The API's gate, checked on every API request: the TCP peer against `api.allowed_ips` (never a
 * header), then credentials (Basic users or bearer tokens) when any are configured. Failed logins
 * count per peer (AuthBackoff): past a few, the peer gets 429 with a growing Retry-After, whoever
 * it is. Rate limiting is @fastify/rate-limit, keyed by the same peer address, after this gate
 * (so it can exempt trusted callers: `rateLimitExempt`).
 */

/** Who made a request, for `created_by` and the audit log. */
export interface Caller {
  peer: string;
  /** Basic-auth user, `token:<sha256 prefix>` for a bearer token, null without credentials. */
  user: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by ApiGate.check for every request it lets through; null before (and if refused). */
    caller: Caller | null;
  }
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

export class ApiGate {
  private allowed: CidrFilter;
  private users = new Map<string, Buffer>();
  private tokens: { digest: Buffer; label: string }[] = [];
  private authRequired = false;
  private cfg: ApiConfig;
  private exempt: CidrFilter;
  readonly backoff: AuthBackoff;
  /** Every line an outsider can trigger on the API goes through this. */
  readonly throttle: LogThrottle;

  constructor(
    cfg: ApiConfig,
    private readonly log: Logger,
    backoff: AuthBackoff = new AuthBackoff(),
  ) {
    this.cfg = cfg;
    this.backoff = backoff;
    this.throttle = new LogThrottle(log);
    this.allowed = new CidrFilter(LOOPBACK);
    this.exempt = new CidrFilter(cfg.rate_limiting.exempt);
    this.configure(cfg);
  }

  configure(cfg: ApiConfig): void {
    this.cfg = cfg;
    this.exempt = new CidrFilter(cfg.rate_limiting.exempt);
    const users = new Map<string, Buffer>();
    const ba = cfg.basic_auth;
    if (ba.enabled) {
      // the single username/password pair counts only when both halves are set, as in the reference
      if (ba.username && ba.password) users.set(ba.username, digest(ba.password));
      for (const [u, p] of Object.entries(ba.users)) if (u && p) users.set(u, digest(p));
      if (users.size === 0)
        this.log.warn('api.basic_auth is enabled but no user has a password: nobody can log in');
    }
    this.users = users;
    this.tokens = cfg.tokens
      .filter((t) => t !== '')
      .map((t) => ({ digest: digest(t), label: tokenLabel(t) }));
    this.authRequired = ba.enabled || this.tokens.length > 0;
    if (cfg.allowed_ips.length === 0 && !this.authRequired) {
      // an empty allowlist would open the API to everyone with no credentials at all
      this.log.warn(
        'api.allowed_ips is empty and no credentials are configured: the API stays loopback-only',
      );
      this.allowed = new CidrFilter(LOOPBACK);
    } else {
      this.allowed =
        cfg.allowed_ips.length === 0
          ? new CidrFilter(['0.0.0.0/0', '::/0'])
          : new CidrFilter(cfg.allowed_ips);
    }
  }

  get allowedCount(): number {
    return this.cfg.allowed_ips.length;
  }

  get basicAuthEnabled(): boolean {
    return this.cfg.basic_auth.enabled;
  }

  /**
   * Declares `req.caller` on `app` (Fastify's decorateRequest, null until check sets it), so every
   * request object has the same shape from its creation instead of gaining a property later.
   */
  decorate(app: FastifyInstance): void {
    app.decorateRequest('caller', null);
  }

  /**
   * onRequest hook: answers 403 / 401 / 429 itself and returns the reply, or sets `req.caller`
   * and returns undefined.
   */
  check(req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.allowed.allows(peer)) {
      this.throttle.warn(
        'api-peer-refused',
        peer,
        { peer, url: req.url },
        'API access denied: peer not in api.allowed_ips',
      );
      return reply.code(403).type('text/plain; charset=utf-8').send('Access denied');
    }
    let user: string | null = null;
    if (this.authRequired) {
      const wait = this.backoff.blockedFor(peer);
      if (wait > 0) return this.tooManyFailures(req, reply, peer, wait);
      user = this.authenticate(req.headers.authorization);
      if (user === null) {
        const delay = this.backoff.fail(peer);
        this.throttle.warn('api-auth-failed', peer, { peer, url: req.url }, 'API authentication failed');
        if (delay > 0) return this.tooManyFailures(req, reply, peer, delay);
        return reply
          .code(401)
          .header('WWW-Authenticate', 'Basic realm="Fail2Ban API"')
          .type('text/plain; charset=utf-8')
          .send('Authentication required');
      }
      this.backoff.succeed(peer);
    }
    req.caller = { peer, user };
    if (!this.canWrite(user) && req.method !== 'GET' && req.method !== 'HEAD') {
      this.throttle.warn(
        'api-read-only',
        peer,
        { peer, user, url: req.url },
        'API change refused: the caller is in api.read_only_users',
      );
      return reply
        .code(statusOf('E_READ_ONLY'))
        .send({ success: false, message: 'read-only user', error: 'E_READ_ONLY' satisfies ErrorCode });
    }
    return undefined;
  }

  /** False for callers in api.read_only_users. */
  canWrite(user: string | null): boolean {
    return user === null || !this.cfg.read_only_users.includes(user);
  }

  /**
   * True when the rate limiter should let this request through: a peer in
   * api.rate_limiting.exempt (loopback by default), or an authenticated caller when
   * api.rate_limiting.exempt_authenticated. Called after check(), so `req.caller` is set.
   */
  rateLimitExempt(req: FastifyRequest): boolean {
    const peer = req.socket.remoteAddress ?? '';
    if (this.exempt.allows(peer)) return true;
    return this.cfg.rate_limiting.exempt_authenticated && req.caller?.user != null;
  }

  private tooManyFailures(
    req: FastifyRequest,
    reply: FastifyReply,
    peer: string,
    waitMs: number,
  ): FastifyReply {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    this.throttle.warn(
      'api-auth-backoff',
      peer,
      { peer, url: req.url, retry_after_seconds: seconds },
      'API peer refused after repeated authentication failures',
    );
    return reply
      .code(statusOf('E_AUTH_BACKOFF'))
      .header('Retry-After', String(seconds))
      .send({
        success: false,
        message: 'Too many failed authentications',
        error: 'E_AUTH_BACKOFF' satisfies ErrorCode,
        retry_after_seconds: seconds,
      });
  }

  private authenticate(header: string | undefined): string | null {
    if (!header) return null;
    const sp = header.indexOf(' ');
    const scheme = header.slice(0, sp).toLowerCase();
    const value = header.slice(sp + 1).trim();
    if (scheme === 'bearer') {
      const d = digest(value);
      let found: string | null = null;
      // compare with every token so the time taken says nothing about which one matched
      for (const t of this.tokens) if (timingSafeEqual(d, t.digest)) found = t.label;
      return found;
    }
    if (scheme === 'basic' && this.cfg.basic_auth.enabled) {
      const text = Buffer.from(value, 'base64').toString('utf8');
      const i = text.indexOf(':');
      if (i < 0) return null;
      const name = text.slice(0, i);
      const given = digest(text.slice(i + 1));
      const want = this.users.get(name);
      // digests have equal length, so timingSafeEqual applies; unknown users cost the same
      const ok = timingSafeEqual(given, want ?? DUMMY) && want !== undefined;
      return ok ? name : null;
    }
    return null;
  }
}

const DUMMY = digest('\0no-such-user');

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function tokenLabel(t: string): string {
  return `token:${createHash('sha256').update(t).digest('hex').slice(0, 8)}`;
}
