import type { IncomingMessage, ServerResponse } from 'node:http';
import { LookupResult, Verdict } from '../../shared/bantable/api.js';
import type { BanTableReader } from '../../shared/bantable/reader.js';
import {
  MAX_SERVICE_NAME,
  SERVICE_ANY,
  SERVICE_UNSCOPED,
  type ServiceNames,
} from '../../shared/bantable/services.js';
import { CidrFilter } from '../../shared/ip/cidr-filter.js';
import { type AddressNotes, parseHop, resolveClientAddress } from '../../shared/ip/forwarding.js';
import { FAMILY_INVALID, type Family, formatIp } from '../../shared/ip/parse.js';
import {
  DENY_REASON,
  denyJsonBody,
  headerSafeReason,
  MISSING_REASON,
  STATUS_ALLOWED,
  STATUS_DENIED,
  UNKNOWN_IP,
} from '../../shared/verdict.js';
import type { NginxConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';

/**
 * Nginx's questions, answered with one ban-table lookup and no framework in the way:
 * `auth_request` subrequests (200 / 403 with the reference's X-Fail2ban-* headers) and the mail
 * proxy's `auth_http` (Auth-Status, Auth-Server, Auth-Port, Auth-Wait). The request body is never
 * read; headers are written as a flat array.
 */

const SERVICE = 'fail2ban-nginx-auth';
const HEALTH_BODY = JSON.stringify({ status: 'healthy', service: SERVICE });
/** nginx keeps the mail session and lets the client retry while Auth-Wait is sent; stop after this. */
const MAIL_MAX_ATTEMPTS = 10;
export interface AuthRequestOptions {
  /** The ban's own reason for an address, when known (null: the reference's fixed text). */
  reasonOf?: (ip: string) => string | null;
  /** The table's service names (BanTable.services): `X-Service` / `Auth-Protocol` resolve there. */
  services?: ServiceNames;
  log?: Logger;
}

export interface AuthCounters {
  allowed: number;
  denied: number;
  /** Requests without a usable client address (answered by missing_ip_policy). */
  noAddress: number;
  mail: number;
  /** Forwarding headers from peers outside nginx.trusted_proxies (ignored). */
  untrustedForwarding: number;
}

export class AuthRequestHandler {
  readonly counters: AuthCounters = { allowed: 0, denied: 0, noAddress: 0, mail: 0, untrustedForwarding: 0 };
  private readonly table: BanTableReader;
  private readonly result = new LookupResult();
  private readonly addr = new Uint8Array(16);
  private readonly notes: AddressNotes = { untrustedForwarding: false };
  private readonly reasonOf: ((ip: string) => string | null) | null;
  private readonly services: ServiceNames | null;
  readonly throttle: LogThrottle | null;
  private trusted: CidrFilter;
  private denyMissing: boolean;
  private returnJson: boolean;
  private mail: NginxConfig['mail'];

  constructor(table: BanTableReader, cfg: NginxConfig, opts: AuthRequestOptions = {}) {
    this.table = table;
    this.reasonOf = opts.reasonOf ?? null;
    this.services = opts.services ?? null;
    this.throttle = opts.log ? new LogThrottle(opts.log) : null;
    this.trusted = new CidrFilter(cfg.trusted_proxies);
    this.denyMissing = cfg.missing_ip_policy === 'deny';
    this.returnJson = cfg.return_json;
    this.mail = cfg.mail;
  }

  reload(cfg: NginxConfig): void {
    this.trusted = new CidrFilter(cfg.trusted_proxies);
    this.denyMissing = cfg.missing_ip_policy === 'deny';
    this.returnJson = cfg.return_json;
    this.mail = cfg.mail;
  }

  health(res: ServerResponse): void {
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(HEALTH_BODY.length)]);
    res.end(HEALTH_BODY);
  }

  /** `/auth`: nginx http auth_request, or the mail proxy when `Auth-Protocol` is present. */
  auth(req: IncomingMessage, res: ServerResponse): void {
    const h = req.headers;
    if (h['auth-protocol'] !== undefined) {
      this.mailAuth(req, res);
      return;
    }
    const peer = req.socket.remoteAddress;
    const fam = resolveClientAddress(h, peer, this.trusted, this.addr, this.notes);
    if (this.notes.untrustedForwarding) this.untrustedForwarding(peer ?? '');
    if (fam === FAMILY_INVALID) {
      this.counters.noAddress++;
      if (this.denyMissing) this.deny(res, UNKNOWN_IP, MISSING_REASON);
      else this.allow(res, UNKNOWN_IP);
      return;
    }
    const verdict = this.lookup(fam, this.serviceOf(h['x-service'], undefined, peer));
    const ip = formatIp(this.addr, fam);
    if (verdict === Verdict.DENY) this.deny(res, ip, this.reasonFor(ip));
    else this.allow(res, ip);
  }

  private reasonFor(ip: string): string {
    if (this.reasonOf === null) return DENY_REASON;
    return headerSafeReason(this.reasonOf(ip)) || DENY_REASON;
  }

  private untrustedForwarding(peer: string): void {
    this.counters.untrustedForwarding++;
    this.throttle?.warn(
      'http-untrusted-forwarding',
      peer,
      { peer, ignored: this.counters.untrustedForwarding },
      'forwarding header from a peer outside nginx.trusted_proxies ignored (judged by its own address); ' +
        'if this peer is your proxy, nginx.trusted_proxies is wrong and every client is being allowed',
    );
  }

  /**
   * The service a request names: `X-Service`, else (mail) `Auth-Protocol`. Only nginx names it:
   * from a peer outside nginx.trusted_proxies, or with no name, every ban counts (SERVICE_ANY).
   * A value that is not one service name (a repeated header, too long) resolves to
   * SERVICE_UNSCOPED, as an unknown name does.
   */
  private serviceOf(
    header: string | string[] | undefined,
    protocol: string | undefined,
    peer: string | undefined,
  ): number {
    const s = this.services;
    const v = header ?? protocol;
    if (s === null || v === undefined || v === '' || !this.trusted.allows(peer)) return SERVICE_ANY;
    if (typeof v !== 'string' || v.length > MAX_SERVICE_NAME) return SERVICE_UNSCOPED;
    return s.lookup(v);
  }

  private lookup(fam: 4 | 6, service: number): number {
    return this.table.checkBytes(
      this.addr,
      0,
      fam === 4 ? 4 : 16,
      (Date.now() / 1000) | 0,
      this.result,
      service,
    );
  }

  private allow(res: ServerResponse, ip: string): void {
    this.counters.allowed++;
    res.writeHead(200, [
      'X-Fail2ban-Status',
      STATUS_ALLOWED,
      'X-Fail2ban-IP',
      ip,
      'X-Fail2ban-Service',
      SERVICE,
      'Content-Length',
      '0',
    ]);
    res.end();
  }

  private deny(res: ServerResponse, ip: string, reason: string): void {
    this.counters.denied++;
    const headers = [
      'X-Fail2ban-Status',
      STATUS_DENIED,
      'X-Fail2ban-IP',
      ip,
      'X-Fail2ban-Reason',
      reason,
      'X-Fail2ban-Service',
      SERVICE,
    ];
    if (!this.returnJson) {
      headers.push('Content-Length', '0');
      res.writeHead(403, headers);
      res.end();
      return;
    }
    const body = denyJsonBody(reason, ip, ip === UNKNOWN_IP ? null : this.result);
    headers.push('Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)));
    res.writeHead(403, headers);
    res.end(body);
  }

  /**
   * nginx `mail { auth_http … }`: the client is `Client-IP` (from a trusted proxy), the answer
   * is in headers only. Banned clients get a temporary error; others are sent to the configured
   * backend for their protocol, which checks the password itself.
   */
  private mailAuth(req: IncomingMessage, res: ServerResponse): void {
    this.counters.mail++;
    const h = req.headers;
    const peer = req.socket.remoteAddress;
    let fam: Family = FAMILY_INVALID;
    const clientIp = h['client-ip'];
    if (!this.trusted.allows(peer)) {
      // not our nginx: judged by its own address, whatever Client-IP says
      if (clientIp !== undefined) this.untrustedForwarding(peer ?? '');
      if (peer !== undefined) fam = parseHop(peer, 0, peer.length, this.addr);
    } else if (typeof clientIp === 'string') fam = parseHop(clientIp, 0, clientIp.length, this.addr);
    const protocol = String(h['auth-protocol']).toLowerCase();
    const attempt = Number(h['auth-login-attempt'] ?? 1) || 1;
    let banned: boolean;
    let ip = UNKNOWN_IP;
    if (fam === FAMILY_INVALID) {
      this.counters.noAddress++;
      banned = this.denyMissing;
    } else {
      banned = this.lookup(fam, this.serviceOf(h['x-service'], protocol, peer)) === Verdict.DENY;
      ip = formatIp(this.addr, fam);
    }
    const headers: string[] = ['X-Fail2ban-IP', ip, 'X-Fail2ban-Service', SERVICE];
    if (banned) {
      this.counters.denied++;
      headers.push(
        'X-Fail2ban-Status',
        STATUS_DENIED,
        'Auth-Status',
        'Temporary server problem, try again later',
      );
      if (protocol === 'smtp') headers.push('Auth-Error-Code', '451 4.7.1');
      // Auth-Wait keeps the session open for another try; after a few, let nginx close it
      if (attempt < MAIL_MAX_ATTEMPTS) headers.push('Auth-Wait', '3');
    } else {
      const backend = this.backendFor(protocol);
      if (backend === null) {
        // allowed, but there is nowhere to send this protocol: a temporary error, not a ban
        this.counters.allowed++;
        headers.push(
          'X-Fail2ban-Status',
          STATUS_ALLOWED,
          'Auth-Status',
          'Temporary server problem, try again later',
        );
        if (protocol === 'smtp') headers.push('Auth-Error-Code', '451 4.3.0');
      } else {
        this.counters.allowed++;
        headers.push(
          'X-Fail2ban-Status',
          STATUS_ALLOWED,
          'Auth-Status',
          'OK',
          'Auth-Server',
          backend.host,
          'Auth-Port',
          backend.port,
        );
      }
    }
    headers.push('Content-Length', '0');
    res.writeHead(200, headers);
    res.end();
  }

  private backendFor(protocol: string): { host: string; port: string } | null {
    const v =
      protocol === 'imap'
        ? this.mail.imap
        : protocol === 'pop3'
          ? this.mail.pop3
          : protocol === 'smtp'
            ? this.mail.smtp
            : '';
    if (!v) return null;
    const i = v.lastIndexOf(':');
    return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: v.slice(i + 1) };
  }
}
