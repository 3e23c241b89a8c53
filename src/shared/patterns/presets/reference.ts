import type { PatternSpec } from '../compile.js';

/**
 * The reference system's pattern sets, kept for compatibility.
 * The reference ran them over the raw datagram, so they are `raw: true` here. They capture IPv4
 * only, as they always did.
 */
const r = (name: string, regex: string, severity: number, description: string): PatternSpec => ({
  name,
  regex,
  ip_group: 1,
  severity,
  description,
  enabled: true,
  raw: true,
});

const Q = '[0-9]{1,3}';
const QUAD = `(${Q}\\.${Q}\\.${Q}\\.${Q})`;

/** `InsertDefaultData()` seed rows of the reference database. */
export const referenceDbSeed: PatternSpec[] = [
  r('dovecot-auth-failure', `auth failed.*rip=${QUAD}`, 1, 'Dovecot authentication failures'),
  r(
    'postfix-auth-failure',
    `authentication failed.*client=.*\\[${QUAD}\\]`,
    1,
    'Postfix authentication failures',
  ),
  r(
    'sogo-auth-failure',
    `Login from '${QUAD}' for user .* might not have worked`,
    1,
    'SOGo authentication failures',
  ),
];

/** `tests-ressources/config.yaml` (the reference's compose environment). */
export const referenceCompose: PatternSpec[] = [
  r(
    'dovecot_auth_failure',
    'dovecot:.*auth-worker.*auth failed.*rip=([0-9.]+)',
    3,
    'Dovecot authentication failure',
  ),
  r(
    'dovecot_login_failure',
    'dovecot:.*imap-login.*Disconnected.*auth failed.*rip=([0-9.]+)',
    4,
    'Dovecot IMAP login failure',
  ),
  r(
    'dovecot_brute_force',
    'dovecot:.*auth.*password mismatch.*rip=([0-9.]+)',
    5,
    'Dovecot password brute force attempt',
  ),
  r('dovecot_invalid_user', 'dovecot:.*auth.*unknown user.*rip=([0-9.]+)', 2, 'Dovecot unknown user attempt'),
  r(
    'postfix_sasl_auth_failure',
    'postfix/smtpd.*SASL.*authentication failed.*\\[([0-9.]+)\\]',
    4,
    'Postfix SASL authentication failure',
  ),
  r('sogo_auth_failure', 'sogod .*Login failed for user.*from ([0-9.]+)', 4, 'SOGo authentication failure'),
];

/** The examples of the reference's `docs/configuration.md`. */
export const referenceDocs: PatternSpec[] = [
  r('dovecot_auth_failure', 'dovecot.*auth failed.*rip=([0-9.]+)', 4, 'Dovecot authentication failure'),
  r('dovecot_unknown_user', 'dovecot.*unknown user.*rip=([0-9.]+)', 2, 'Dovecot unknown user attempt'),
  r(
    'postfix_sasl_failure',
    'postfix.*SASL.*authentication failed.*\\[([0-9.]+)\\]',
    4,
    'Postfix SASL authentication failure',
  ),
  r(
    'postfix_relay_denied',
    'postfix.*Relay access denied.*\\[([0-9.]+)\\]',
    3,
    'Postfix relay access denied',
  ),
  r('sogo_login_failure', 'sogod.*Login failed for user.*from ([0-9.]+)', 3, 'SOGo login failure'),
  r('sogo_expired_session', 'sogod.*expired session.*from ([0-9.]+)', 1, 'SOGo expired session'),
  r('service_auth_failure', 'service.*failed login.*from ([0-9.]+)', 4, 'generic template'),
];
