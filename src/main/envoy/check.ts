import { type BanTableReader, LookupResult, Verdict } from '../../shared/bantable/index.js';
import { CidrFilter } from '../../shared/ip/cidr-filter.js';
import { FAMILY_INVALID, formatIp } from '../../shared/ip/parse.js';
import {
  DENY_MESSAGE,
  DENY_REASON,
  denyJsonBody,
  denyTextBody,
  headerSafeReason,
  MISSING_REASON,
  STATUS_ALLOWED,
  STATUS_DENIED,
  UNKNOWN_IP,
} from '../../shared/verdict.js';
import type { Config } from '../config/types.js';
import { clientAddress } from './address.js';
import type { CheckInput } from './check-decoder.js';
import { encodeDenied, encodeOk } from './wire.js';

/** google.rpc.Code */
export const RPC_OK = 0;
export const RPC_PERMISSION_DENIED = 7;

/** What a Check's answer depends on, from `envoy.*` (and `nginx.return_json` for the body). */
export interface CheckOptions {
  trustHeaders: boolean;
  trusted: CidrFilter;
  denyStatus: number;
  allowedHeaders: boolean;
  denyMissing: boolean;
  returnJson: boolean;
}

export function checkOptions(config: Config): CheckOptions {
  const e = config.envoy;
  return {
    trustHeaders: e.trust_headers,
    trusted: new CidrFilter(e.trusted_proxies),
    denyStatus: e.deny_status,
    allowedHeaders: e.allowed_headers,
    denyMissing: e.missing_ip_policy === 'deny',
    returnJson: config.nginx.return_json,
  };
}

/** Plain numbers bumped on the hot path; Prometheus reads them at scrape (metrics/feed.ts). */
export class CheckCounters {
  checks = 0;
  allowed = 0;
  denied = 0;
  /** Checks without a usable client address (answered by envoy.missing_ip_policy). */
  noAddress = 0;
  /** Requests whose bytes are not a CheckRequest (answered INVALID_ARGUMENT). */
  invalid = 0;
  /** A lookup or encoding threw (answered by envoy.missing_ip_policy). */
  errors = 0;
}

/**
 * CheckRequest → CheckResponse bytes: one ban-table lookup. Allow answers are prebuilt
 * constants; a denial is encoded into one buffer sized exactly.
 */
export class CheckHandler {
  readonly counters = new CheckCounters();
  private readonly table: BanTableReader;
  private readonly reasonText: (id: number) => string;
  private readonly result = new LookupResult();
  private readonly addr = new Uint8Array(16);
  private opts!: CheckOptions;
  /** CheckResponse{status OK, ok_response{x-fail2ban-status: allowed}} */
  private okHttp!: Buffer;
  /** CheckResponse{status OK} */
  private okPlain!: Buffer;
  private deniedNetwork!: Buffer;
  /** The last recorded reason and its header-safe form (bans mostly share a few reasons). */
  private lastRecorded = '';
  private lastHeader = DENY_REASON;

  constructor(table: BanTableReader, reasonText: (id: number) => string, opts: CheckOptions) {
    this.table = table;
    this.reasonText = reasonText;
    this.setOptions(opts);
  }

  setOptions(opts: CheckOptions): void {
    this.opts = opts;
    this.okPlain = encodeOk(null);
    this.okHttp = opts.allowedHeaders ? encodeOk([['x-fail2ban-status', STATUS_ALLOWED]]) : this.okPlain;
    this.deniedNetwork = encodeDenied({ grpcCode: RPC_PERMISSION_DENIED, message: DENY_MESSAGE, http: null });
  }

  /** Header maps are walked only when they can matter. */
  get wantHeaders(): boolean {
    return this.opts.trustHeaders;
  }

  /** The response bytes, or null when `input` is not a CheckRequest. `now`: unix seconds. */
  answer(input: CheckInput, now: number): Buffer | null {
    const c = this.counters;
    c.checks++;
    if (!input.ok) {
      c.invalid++;
      return null;
    }
    try {
      const o = this.opts;
      const fam = clientAddress(input, o.trustHeaders, o.trusted, this.addr);
      if (fam === FAMILY_INVALID) {
        c.noAddress++;
        return o.denyMissing
          ? this.deny(input, UNKNOWN_IP, MISSING_REASON, MISSING_REASON)
          : this.allow(input);
      }
      const v = this.table.checkBytes(this.addr, 0, fam === 4 ? 4 : 16, now, this.result, input.service);
      if (v !== Verdict.DENY) return this.allow(input);
      const recorded = this.reasonText(this.result.reasonId);
      const message = recorded ? `${DENY_MESSAGE} (${recorded})` : DENY_MESSAGE;
      return this.deny(input, formatIp(this.addr, fam), DENY_REASON, message, this.headerReason(recorded));
    } catch {
      // a failing lookup costs this answer, never the server: fall back to the policy
      c.errors++;
      return this.opts.denyMissing ? this.deniedNetwork : this.okPlain;
    }
  }

  /** x-fail2ban-reason: the ban's own reason, header-safe as Nginx's; the fixed text without one. */
  private headerReason(recorded: string): string {
    if (recorded !== this.lastRecorded) {
      this.lastRecorded = recorded;
      this.lastHeader = headerSafeReason(recorded) || DENY_REASON;
    }
    return this.lastHeader;
  }

  private allow(input: CheckInput): Buffer {
    this.counters.allowed++;
    return input.http ? this.okHttp : this.okPlain;
  }

  private deny(input: CheckInput, ip: string, reason: string, message: string, header = reason): Buffer {
    this.counters.denied++;
    const o = this.opts;
    if (!input.http) {
      return message === DENY_MESSAGE
        ? this.deniedNetwork
        : encodeDenied({ grpcCode: RPC_PERMISSION_DENIED, message, http: null });
    }
    let body: string;
    let type: string;
    if (o.returnJson) {
      body = denyJsonBody(reason, ip, ip === UNKNOWN_IP ? null : this.result);
      type = 'application/json';
    } else {
      body = denyTextBody(reason);
      type = 'text/plain; charset=utf-8';
    }
    return encodeDenied({
      grpcCode: RPC_PERMISSION_DENIED,
      message,
      http: {
        status: o.denyStatus,
        headers: [
          ['x-fail2ban-status', STATUS_DENIED],
          ['x-fail2ban-ip', ip],
          ['x-fail2ban-reason', header],
          ['content-type', type],
        ],
        body,
      },
    });
  }
}
