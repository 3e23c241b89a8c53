import fc from 'fast-check';
import { FAMILY_INVALID, formatIp, parseIpInto } from '../../src/shared/ip/parse.js';
import { BatchMatcher } from '../../src/shared/patterns/batch-matcher.js';
import type { PatternSpec } from '../../src/shared/patterns/compile.js';
import { REC_ADDR, REC_FAMILY, REC_PATTERN, RECORD_SIZE } from '../../src/shared/patterns/protocol.js';
import { PatternSet } from '../../src/shared/patterns/set.js';

/** Text a client controls in a log line: the user name, the request line / path, the user agent. */
export interface Fields {
  user: string;
  path: string;
  agent: string;
  /** A reverse-DNS name (Postfix prints the client's PTR), DNS characters only. */
  host: string;
}

/** One real line shape of a preset: the pattern it must count for, and the line for `ip`. */
export interface Shape {
  pattern: string;
  line: (ip: string, f: Fields) => string;
}

const NGX = 'Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 ';
const NGX_TAIL = (f: Fields) =>
  `, server: example.com, request: "GET ${f.path} HTTP/1.1", host: "${f.agent}"`;

/** Every shape the built-in presets claim, with the client's text where the service writes it. */
export const SHAPES: Shape[] = [
  {
    pattern: 'dovecot-auth-failed',
    line: (ip, f) =>
      `Nov 24 16:05:41 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<${f.user}>, method=PLAIN, rip=${ip}, lip=192.0.2.10, TLS, session=<x7dK1Y3Z0tLLwKhq>`,
  },
  {
    pattern: 'dovecot-auth-failed',
    line: (ip, f) =>
      `Nov 24 16:05:41 pop3-login: Info: Login aborted: Connection closed (auth failed, 3 attempts in 9 secs) (auth_failed): user=<${f.user}>, method=PLAIN, rip=${ip}, lip=192.0.2.10, session=<x>`,
  },
  {
    pattern: 'dovecot-password-mismatch',
    line: (ip, f) =>
      `Nov 24 16:05:44 mail dovecot: auth: passwd-file(${f.user},${ip},<x7dK1Y3Z0tLLwKhq>): Password mismatch`,
  },
  {
    pattern: 'dovecot-password-mismatch',
    line: (ip, f) => `Nov 24 16:05:44 auth-worker(4711): Info: sql(${f.user},${ip}): Password mismatch`,
  },
  {
    pattern: 'dovecot-unknown-user',
    line: (ip, f) =>
      `Nov 24 16:05:46 mail dovecot: auth-worker(4711): sql(${f.user},${ip},<Yq2k>): unknown user`,
  },
  {
    pattern: 'postfix-sasl-failed',
    line: (ip, f) =>
      `Nov 24 16:05:47 mail postfix/smtpd[2211]: warning: ${f.host}[${ip}]: SASL LOGIN authentication failed: ${f.user}`,
  },
  {
    pattern: 'postfix-relay-denied',
    line: (ip, f) =>
      `Nov 24 16:05:48 mail postfix/smtpd[2213]: NOQUEUE: reject: RCPT from ${f.host}[${ip}]: 554 5.7.1 <${f.path}>: Relay access denied; from=<${f.user}> to=<${f.path}> proto=ESMTP helo=<${f.agent}>`,
  },
  {
    pattern: 'postfix-lost-after-auth',
    line: (ip, f) =>
      `Nov 24 16:05:49 mail postfix/smtpd[2214]: lost connection after AUTH from ${f.host}[${ip}]`,
  },
  {
    pattern: 'postfix-auth-errors',
    line: (ip, f) =>
      `Nov 24 16:05:49 mail postfix/smtpd[2216]: too many errors after AUTH from ${f.host}[${ip}]`,
  },
  {
    pattern: 'postfix-pipelining',
    line: (ip, f) =>
      `Nov 24 16:05:49 mail postfix/smtpd[2217]: improper command pipelining after EHLO from ${f.host}[${ip}]: ${f.user}`,
  },
  {
    pattern: 'sogo-login-failed',
    line: (ip, f) =>
      `Nov 24 16:05:50 mail sogod [3253]: SOGoRootPage Login from '${ip}' for user '${f.user}' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0`,
  },
  {
    pattern: 'sshd-failed-password',
    line: (ip, f) =>
      `Nov 24 16:05:51 gw sshd[9001]: Failed password for ${f.user} from ${ip} port 52144 ssh2`,
  },
  {
    pattern: 'sshd-failed-password',
    line: (ip, f) =>
      `Nov 24 16:05:51 gw sshd-session[9001]: Failed password for invalid user ${f.user} from ${ip} port 52144 ssh2`,
  },
  {
    pattern: 'sshd-invalid-user',
    line: (ip, f) => `Nov 24 16:05:52 gw sshd-session[9003]: Invalid user ${f.user} from ${ip} port 33410`,
  },
  {
    pattern: 'sshd-max-auth-tries',
    line: (ip, f) =>
      `Nov 24 16:05:52 gw sshd[9003]: error: maximum authentication attempts exceeded for ${f.user} from ${ip} port 33410 ssh2 [preauth]`,
  },
  {
    pattern: 'sshd-preauth-closed',
    line: (ip, f) =>
      `Nov 24 16:05:52 gw sshd-session[9003]: Connection closed by authenticating user ${f.user} ${ip} port 33410 [preauth]`,
  },
  {
    pattern: 'sshd-user-not-allowed',
    line: (ip, f) =>
      `Nov 24 16:05:52 gw sshd[9003]: User ${f.user} from ${ip} not allowed because not listed in AllowUsers`,
  },
  {
    pattern: 'sshd-pam-failure',
    line: (ip, f) =>
      `Nov 24 16:05:52 gw sshd[9003]: error: PAM: Authentication failure for ${f.user} from ${ip} via 192.0.2.1`,
  },
  {
    pattern: 'sshd-root-refused',
    line: (ip) => `Nov 24 16:05:52 gw sshd[9003]: ROOT LOGIN REFUSED FROM ${ip} port 40022 [preauth]`,
  },
  {
    pattern: 'dovecot-pam-unix',
    line: (ip, f) =>
      `Nov 24 16:05:52 mail auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=${f.user} rhost=${ip}  user=${f.user}`,
  },
  {
    pattern: 'dovecot-auth-failed',
    line: (ip, f) =>
      `Nov 24 16:05:41 mail dovecot: submission-login: Client has quit the connection (auth failed, 1 attempts in 2 secs): user=<${f.user}>, method=LOGIN, rip=${ip}, lip=192.0.2.10`,
  },
  {
    pattern: 'nginx-auth-basic',
    line: (ip, f) => `${NGX}user "${f.user}": password mismatch, client: ${ip}${NGX_TAIL(f)}`,
  },
  {
    pattern: 'nginx-auth-basic',
    line: (ip, f) =>
      `${NGX}user "${f.user}" was not found in "/etc/nginx/.htpasswd", client: ${ip}${NGX_TAIL(f)}, referrer: "${f.agent}"`,
  },
  {
    pattern: 'nginx-limit-req',
    line: (ip, f) => `${NGX}limiting requests, excess: 10.500 by zone "one", client: ${ip}${NGX_TAIL(f)}`,
  },
];

/** Canonical text of an address (`::ffff:1.2.3.4` → `1.2.3.4`, IPv6 compressed). */
export function canonical(ip: string): string {
  const b = new Uint8Array(16);
  const fam = parseIpInto(ip, b);
  if (fam === FAMILY_INVALID) throw new Error(`not an address: ${ip}`);
  return formatIp(b, fam);
}

/** A reusable in-thread matcher over one set (one compile for many lines). */
export class QuickMatcher {
  private readonly m = new BatchMatcher();
  private readonly set: PatternSet;
  private readonly json: string;
  constructor(specs: readonly PatternSpec[]) {
    this.set = new PatternSet(1, specs);
    this.json = JSON.stringify({ version: 1, specs, skip: [] });
  }

  /** `[pattern, canonical address]` of each match of `line` (at most one). */
  run(line: string): [string, string][] {
    const r = this.m.run({
      version: 1,
      patterns: this.json,
      buf: new TextEncoder().encode(line),
      count: 1,
      timeMs: 0,
      lineTime: false,
      maxLen: 0,
      budgetMs: 10_000,
    });
    const out: [string, string][] = [];
    for (let k = 0; k < r.matches; k++) {
      const o = k * RECORD_SIZE;
      const id = r.records[o + REC_PATTERN] | (r.records[o + REC_PATTERN + 1] << 8);
      const fam = r.records[o + REC_FAMILY] as 4 | 6;
      out.push([this.set.patterns[id].name, formatIp(r.records.subarray(o + REC_ADDR), fam)]);
    }
    return out;
  }
}

export const ipv4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 }))
  .map((t) => t.join('.'));
export const ipv6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((a) => canonical(a.map((x) => x.toString(16)).join(':')))
  .filter((s) => s.includes(':'));
export const anyIp = fc.oneof(ipv4, ipv6);

/**
 * Pieces of the presets' own fixed text, so generated fields can mimic the real structure. Not
 * `, request: `: a user name ending in `…, client: A, server: S, request: ` and one whose request
 * line holds `…, client: B, …` can make the very same nginx line, so no pattern can tell them
 * apart; nginx cuts the user name at the first `:`, so only the request-line case is real, and
 * the pattern takes that side.
 */
const FRAGMENTS = [
  " might not have worked Login from '",
  "' for user '",
  "' might not have worked",
  'SOGoRootPage Login from ',
  '" was not found in "/x", client: ',
  '": password mismatch, client: ',
  ', client: ',
  ', server: ',
  ', host: "',
  '"',
  "'",
  ', ',
  ',',
  ' from ',
  ' port 22',
  ' port 22 ssh2',
  ' ssh2',
  ' [preauth]',
  'invalid user ',
  ', rip=',
  ', lip=',
  'rip=',
  '>',
  '<',
  '(',
  ')',
  '[',
  ']',
  ']: ',
  ': ',
  'unknown[',
  ' user ',
  'Password mismatch',
  'unknown user',
  'SASL LOGIN authentication failed',
  '::ffff:',
  ' ',
];

const PLAIN: Fields = { user: 'u', path: '/', agent: 'example.com', host: 'unknown' };

/**
 * A tail of a real line of any shape, made for `ip`: the service's own text, as a client would
 * copy it into a field. nginx lines are cut before `, request: ` (see FRAGMENTS).
 */
const realTail = (ip: string) =>
  fc.constantFrom(...SHAPES).chain((shape) => {
    const line = shape.line(ip, PLAIN);
    const body = line.slice(line.indexOf(': ') + 2);
    const cut = body.indexOf(', request: ');
    const text = cut >= 0 ? body.slice(0, cut) : body;
    return fc.nat(text.length).map((k) => text.slice(k));
  });

/** Client text that holds other addresses, the presets' fixed text and noise (no line breaks). */
export const hostileText = (inject: fc.Arbitrary<string>) =>
  fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: inject.chain(realTail) },
        { weight: 4, arbitrary: fc.constantFrom(...FRAGMENTS) },
        { weight: 3, arbitrary: inject },
        { weight: 2, arbitrary: fc.string({ maxLength: 8 }).map((s) => s.replace(/[\r\n\0]/g, '')) },
      ),
      { maxLength: 12 },
    )
    .map((a) => a.join(''));

/** A PTR-like host name, possibly spelling out an address (`6.6.6.6`, `1-2-3-4.example`). */
export const hostName = (inject: fc.Arbitrary<string>) =>
  fc.oneof(
    fc.constant('unknown'),
    inject.map((s) => s.replace(/:/g, '-')),
    fc.domain(),
  );
