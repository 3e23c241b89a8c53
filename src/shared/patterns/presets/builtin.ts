import type { PatternSpec } from '../compile.js';
import { IP } from './ip.js';

/**
 * edgeban's built-in patterns, used when no pattern is configured. They match `tag: message`
 * (pid stripped), capture IPv4 and IPv6, and are anchored on the fixed parts of each service's
 * real log format so that text an attacker controls (user names, paths, request lines, user
 * agents) cannot plant an address. Each pattern follows one of two rules, by where the
 * attacker's text sits in the line:
 * - the address comes before any attacker text: the pattern is anchored at the start and every
 *   part before the address is the service's own fixed text (so the first address wins);
 * - attacker text comes before the address and only fixed text after it: the pattern is anchored
 *   at the end (`$`) behind a greedy `.*`, so the last address (the one the service wrote) wins.
 * nginx's auth_basic line has attacker text on both sides; see NGINX_CLIENT.
 */

const p = (name: string, regex: string, severity: number, description: string): PatternSpec => ({
  name,
  regex,
  ip_group: 'ip',
  severity,
  description,
  enabled: true,
  raw: false,
});

/** `postfix/smtpd`, `postfix/submission/smtpd`, and named instances (`postfix-incoming/smtpd`). */
const POSTFIX_SMTPD = '^postfix(?:-[\\w.-]+)?(?:/[\\w.-]+)*/smtpd: ';
/** `host[addr]`: the host name is a PTR the client may own, but it cannot hold `[`. */
const POSTFIX_CLIENT = `[\\w.-]+\\[${IP}\\]`;
const NGINX_PREFIX =
  '^(?:nginx: )?(?:\\d\\d\\d\\d/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d )?\\[(?:error|warn|notice|info)\\] \\d+#\\d+: \\*\\d+ ';
/**
 * nginx's `, client: ADDR, server: NAME` context, then the request or the end of the line. The
 * user name comes before it and the request line after it, both the client's text; the server
 * name (the operator's, no spaces, quotes or commas) must be followed by `, request: ` or the end,
 * which text nginx writes after a user name never is (`" was not found…`, `": password…`), so a
 * `client:` planted in the user name does not complete. Taken lazily (the first one that
 * completes), so one planted in the request line is never reached.
 */
const NGINX_CLIENT = `, client: ${IP}, server: [^\\s",]*(?:, request: |$)`;
/** Dovecot via syslog (`dovecot: imap-login: …`) or its own log file (`imap-login: Info: …`). */
const DOVECOT = '^(?:dovecot: )?(?:\\d\\d\\d\\d-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d )?';
const DOVECOT_AUTH = `${DOVECOT}auth(?:-worker)?(?:\\([\\w-]+\\))?: (?:Info: )?(?:conn unix:[\\w/-]+ \\((?:pid=\\d+,)?uid=\\d+\\): auth-worker<\\d+>: )?`;
/**
 * `passdb(user,addr[,<session>])`, possibly nested (`passwd-file(pam(…))`): the user name cannot
 * hold `,` or parentheses here, so a planted `,addr` never lines up.
 */
const DOVECOT_REQ = `(?:[\\w-]+\\()?[\\w-]+\\([^,()]*,${IP}(?:,<[^>]*>|,)?\\)\\)?: `;
/**
 * The end of an auth line: an optional `(…)` note (`(password mismatch?)`, `(SHA1 of given
 * password: …)`) without parentheses, then the end, so that a user name spelling out a whole
 * `passdb(user,addr): Password mismatch` of its own does not complete.
 */
const DOVECOT_END = '(?: \\([^()]*\\))?$';
/** OpenSSH ≥ 9.8 logs from `sshd-session` (10.0: `sshd-auth` too). */
const SSHD = '^sshd(?:-session|-auth)?: (?:\\[ID \\d+ [\\w.]+\\] )?';
/** OpenSSH's ` port N` then the optional protocol and `[preauth]`, then the end of the line. */
const SSHD_TAIL = ' port \\d+(?: ssh2)?(?::? ?\\[preauth\\])?$';
/**
 * The tail of a `Failed …` line: the port and the protocol. The port is required: without it, a
 * client's text after the address (ssh1's `ruser`) could end the line with an address. A key's
 * fingerprint after it (`ssh2: RSA SHA256:…`) is a key the client offered and the server did not
 * take, which legitimate clients with several keys do: not counted.
 */
const SSHD_FAILED_TAIL = ' port \\d+(?: ssh[12])?(?::? ?\\[preauth\\])?$';

export const dovecot: PatternSpec[] = [
  p(
    'dovecot-auth-failed',
    `${DOVECOT}(?:[\\w-]+-login: (?:Info: )?(?:Disconnected|Aborted login|Login aborted|Client has quit the connection|Remote closed connection)[^(]*(?:\\([^()]*\\)[^(]*)*\\(auth failed, \\d+ attempts(?: in \\d+ secs)?\\)(?: \\([\\w-]+\\))?|auth failed, \\d+ attempts in \\d+ secs): .*, rip=${IP}(?:,|$)`,
    4,
    'Dovecot login disconnected after failed authentication',
  ),
  p(
    'dovecot-password-mismatch',
    `${DOVECOT_AUTH}${DOVECOT_REQ}(?:Password mismatch|invalid credentials|pam_authenticate\\(\\) failed: (?:Authentication failure|Permission denied))${DOVECOT_END}`,
    5,
    'Dovecot password mismatch',
  ),
  p(
    'dovecot-unknown-user',
    `${DOVECOT_AUTH}${DOVECOT_REQ}unknown user${DOVECOT_END}`,
    2,
    'Dovecot unknown user',
  ),
  p(
    'dovecot-pam-unix',
    // ruser and the user are the client's, but hold no space: rhost= cannot be planted before the real one
    `^(?:dovecot(?:-auth)?|auth): (?:dovecot-auth: )?pam_unix\\(dovecot:auth\\): authentication failure; logname=\\S* uid=\\d+ euid=\\d+ tty=\\S* ruser=\\S* rhost=${IP}(?:\\s+user=\\S*)?$`,
    4,
    'Dovecot PAM (pam_unix) authentication failure',
  ),
];

export const postfix: PatternSpec[] = [
  p(
    'postfix-sasl-failed',
    `${POSTFIX_SMTPD}warning: ${POSTFIX_CLIENT}(?::\\d+)?: SASL [\\w-]+ authentication failed:?(?:$| (?:[^CI]|C[^o]|I[^n]).*$)`,
    4,
    'Postfix SASL authentication failure',
  ),
  p(
    'postfix-relay-denied',
    `${POSTFIX_SMTPD}NOQUEUE: reject: RCPT from ${POSTFIX_CLIENT}: 554 5\\.7\\.1 .*: Relay access denied;`,
    3,
    'Postfix relay access denied',
  ),
  p(
    'postfix-lost-after-auth',
    `${POSTFIX_SMTPD}lost connection after AUTH from ${POSTFIX_CLIENT}$`,
    3,
    'Postfix client dropped the connection after a failed AUTH',
  ),
  p(
    'postfix-auth-errors',
    `${POSTFIX_SMTPD}too many errors after AUTH from ${POSTFIX_CLIENT}$`,
    4,
    'Postfix: too many errors after AUTH',
  ),
  p(
    'postfix-pipelining',
    `${POSTFIX_SMTPD}improper command pipelining after [\\w-]+ from ${POSTFIX_CLIENT}(?::|$)`,
    2,
    'Postfix: improper command pipelining (spam bots)',
  ),
];

export const sogo: PatternSpec[] = [
  p(
    'sogo-login-failed',
    // the address list (proxies append to it) holds addresses only; the last one is the client
    `^sogod: (?:<0x[0-9A-Fa-f]+\\[[\\w-]+\\]> )?SOGoRootPage Login from '(?:[0-9A-Fa-f:.]+, )*${IP}' for user '.*' might not have worked`,
    4,
    'SOGo login failure',
  ),
];

export const sshd: PatternSpec[] = [
  p(
    'sshd-failed-password',
    `${SSHD}Failed (?:password|publickey|keyboard-interactive(?:/pam)?|none|unknown) for (?:invalid user )?.* from ${IP}${SSHD_FAILED_TAIL}`,
    4,
    'sshd failed password',
  ),
  p(
    'sshd-invalid-user',
    `${SSHD}Invalid user .* from ${IP}(?: port \\d+)?(?: \\[preauth\\])?$`,
    2,
    'sshd invalid user',
  ),
  p(
    'sshd-max-auth-tries',
    `${SSHD}(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?.* from ${IP}${SSHD_TAIL}`,
    5,
    'sshd maximum authentication attempts exceeded',
  ),
  p(
    'sshd-preauth-closed',
    `${SSHD}(?:Connection closed by|Connection reset by|Disconnected from) (?:authenticating|invalid) user .* ${IP}${SSHD_TAIL}`,
    1,
    'sshd client left during authentication (key probing, brute force)',
  ),
  p(
    'sshd-user-not-allowed',
    `${SSHD}User .* from ${IP} not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|a group is listed in DenyGroups|none of user's groups are listed in AllowGroups)$`,
    3,
    'sshd user refused by AllowUsers/DenyUsers/AllowGroups/DenyGroups',
  ),
  p(
    'sshd-pam-failure',
    `${SSHD}error: PAM: [Aa]uthentication (?:failure|error) for (?:illegal user )?.* from ${IP}(?: via \\S+)?$`,
    4,
    'sshd PAM authentication failure',
  ),
  p(
    'sshd-root-refused',
    `${SSHD}ROOT LOGIN REFUSED FROM ${IP}(?: port \\d+)?(?: \\[preauth\\])?$`,
    4,
    'sshd refused a root login (PermitRootLogin no)',
  ),
];

export const nginx: PatternSpec[] = [
  p(
    'nginx-auth-basic',
    `${NGINX_PREFIX}user ".*?"(?:: password mismatch| was not found in "[^"]*")${NGINX_CLIENT}`,
    4,
    'nginx auth_basic failure',
  ),
  p(
    'nginx-limit-req',
    `${NGINX_PREFIX}limiting requests, excess: [\\d.]+ by zone "[^"]*"${NGINX_CLIENT}`,
    2,
    'nginx limit_req rejection',
  ),
];

/** The default set: every service above, in this order. */
export const builtin: PatternSpec[] = [...dovecot, ...postfix, ...sogo, ...sshd, ...nginx];
