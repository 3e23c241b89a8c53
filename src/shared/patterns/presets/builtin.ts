import type { PatternSpec } from '../compile.js';
import { IP } from './ip.js';

/**
 * edgeban's built-in patterns, used when no pattern is configured. They match `tag: message`
 * (pid stripped), capture IPv4 and IPv6, and are anchored on the fixed parts of each service's
 * real log format so that text an attacker controls (user names) cannot plant an address: where
 * a line can hold attacker text before the address, the greedy `.*` makes the *last* occurrence
 * win, which is the one the service wrote.
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

const POSTFIX_SMTPD = '^postfix(?:/[\\w.-]+)*/smtpd: ';
const POSTFIX_CLIENT = `[\\w.-]+\\[${IP}\\]`;
const NGINX_PREFIX =
  '^(?:nginx: )?(?:\\d\\d\\d\\d/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d )?\\[(?:error|warn|notice|info)\\] \\d+#\\d+: \\*\\d+ ';

export const dovecot: PatternSpec[] = [
  p(
    'dovecot-auth-failed',
    `^dovecot: (?:[\\w-]+-login: (?:Disconnected|Aborted login)[^(]*\\(auth failed, \\d+ attempts in \\d+ secs\\)|auth failed, \\d+ attempts in \\d+ secs): .*, rip=${IP}(?:,|$)`,
    4,
    'Dovecot login disconnected after failed authentication',
  ),
  p(
    'dovecot-password-mismatch',
    `^dovecot: auth(?:-worker)?(?:\\(\\d+\\))?: (?:[\\w-]+\\()?[\\w-]+\\([^,()]*,${IP}(?:,<[^>]*>)?\\)\\)?: (?:Password mismatch|pam_authenticate\\(\\) failed: Authentication failure)`,
    5,
    'Dovecot password mismatch',
  ),
  p(
    'dovecot-unknown-user',
    `^dovecot: auth(?:-worker)?(?:\\(\\d+\\))?: (?:[\\w-]+\\()?[\\w-]+\\([^,()]*,${IP}(?:,<[^>]*>)?\\)\\)?: unknown user`,
    2,
    'Dovecot unknown user',
  ),
];

export const postfix: PatternSpec[] = [
  p(
    'postfix-sasl-failed',
    `${POSTFIX_SMTPD}warning: ${POSTFIX_CLIENT}: SASL [\\w-]+ authentication failed`,
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
];

export const sogo: PatternSpec[] = [
  p(
    'sogo-login-failed',
    `^sogod: .*\\bLogin from '(?:[^',]*, )*${IP}' for user '.*' might not have worked`,
    4,
    'SOGo login failure',
  ),
];

export const sshd: PatternSpec[] = [
  p(
    'sshd-failed-password',
    `^sshd: Failed (?:password|publickey|keyboard-interactive/pam) for (?:invalid user )?.* from ${IP} port \\d+(?: ssh2)?(?: \\[preauth\\])?$`,
    4,
    'sshd failed password',
  ),
  p(
    'sshd-invalid-user',
    `^sshd: Invalid user .* from ${IP}(?: port \\d+)?(?: \\[preauth\\])?$`,
    2,
    'sshd invalid user',
  ),
];

export const nginx: PatternSpec[] = [
  p(
    'nginx-auth-basic',
    `${NGINX_PREFIX}user "[^"]*":? (?:password mismatch|was not found in "[^"]*"), client: ${IP}, server: `,
    4,
    'nginx auth_basic failure',
  ),
  p(
    'nginx-limit-req',
    `${NGINX_PREFIX}limiting requests, excess: [\\d.]+ by zone "[^"]*", client: ${IP}, server: `,
    2,
    'nginx limit_req rejection',
  ),
];

/** The default set: every service above, in this order. */
export const builtin: PatternSpec[] = [...dovecot, ...postfix, ...sogo, ...sshd, ...nginx];
