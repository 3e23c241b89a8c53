/**
 * Real-format log lines for the built-in presets: every line in `match` must be counted for the
 * named pattern with the given address; every line in `noMatch` must not count at all. Lines are
 * as a syslog daemon writes them to a file (RFC 3164 without `<PRI>`); the tests also send them
 * with headers.
 */
export interface MatchFixture {
  line: string;
  pattern: string;
  ip: string;
}

export const match: MatchFixture[] = [
  // Dovecot: login process disconnects after failed auth (2.2 and 2.3 wording)
  {
    line: 'Nov 24 16:05:41 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@example.com>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.10, TLS, session=<x7dK1Y3Z0tLLwKhq>',
    pattern: 'dovecot-auth-failed',
    ip: '203.0.113.5',
  },
  {
    line: 'Nov 24 16:05:42 mail dovecot[812]: pop3-login: Disconnected: Connection closed (auth failed, 3 attempts in 15 secs): user=<bob>, method=LOGIN, rip=2001:db8:1:2::5, lip=2001:db8::10, TLS, session=<abc>',
    pattern: 'dovecot-auth-failed',
    ip: '2001:db8:1:2::5',
  },
  {
    line: 'Oct 15 10:30:15 mail dovecot: auth failed, 1 attempts in 0 secs: user=test@example.com, method=PLAIN, rip=192.168.1.100',
    pattern: 'dovecot-auth-failed',
    ip: '192.168.1.100',
  },
  {
    line: 'Nov 24 16:05:43 mail dovecot: imap-login: Aborted login (auth failed, 2 attempts in 6 secs): user=<carol>, method=PLAIN, rip=::ffff:198.51.100.23, lip=::ffff:192.0.2.10, session=<q>',
    pattern: 'dovecot-auth-failed',
    ip: '198.51.100.23',
  },
  // Dovecot: password mismatch / unknown user from the auth process
  {
    line: 'Nov 24 16:05:44 mail dovecot: auth: passwd-file(alice@example.com,203.0.113.7,<x7dK1Y3Z0tLLwKhq>): Password mismatch',
    pattern: 'dovecot-password-mismatch',
    ip: '203.0.113.7',
  },
  {
    line: 'Nov 24 16:05:45 mail dovecot: auth-worker(4711): sql(bob@example.com,2001:db8::77,<Yq2k>): Password mismatch',
    pattern: 'dovecot-password-mismatch',
    ip: '2001:db8::77',
  },
  {
    line: 'Nov 24 16:05:45 mail dovecot: auth-worker(4711): pam(bob,198.51.100.9,<Yq2k>): pam_authenticate() failed: Authentication failure (password mismatch?)',
    pattern: 'dovecot-password-mismatch',
    ip: '198.51.100.9',
  },
  {
    line: 'Nov 24 16:05:46 mail dovecot: auth: passwd-file(nobody@example.com,203.0.113.8): unknown user',
    pattern: 'dovecot-unknown-user',
    ip: '203.0.113.8',
  },
  {
    line: 'Nov 24 16:05:46 mail dovecot: auth-worker(4711): sql(ghost@example.com,2001:db8:0:0:0:0:0:9,<Yq2k>): unknown user',
    pattern: 'dovecot-unknown-user',
    ip: '2001:db8::9',
  },
  // Postfix
  {
    line: 'Nov 24 16:05:47 mail postfix/smtpd[2211]: warning: unknown[203.0.113.20]: SASL LOGIN authentication failed: UGFzc3dvcmQ6',
    pattern: 'postfix-sasl-failed',
    ip: '203.0.113.20',
  },
  {
    line: 'Nov 24 16:05:47 mail postfix/submission/smtpd[2212]: warning: host.example.net[2001:db8:5::20]: SASL PLAIN authentication failed: authentication failure',
    pattern: 'postfix-sasl-failed',
    ip: '2001:db8:5::20',
  },
  {
    line: 'Nov 24 16:05:48 mail postfix/smtpd[2213]: NOQUEUE: reject: RCPT from unknown[198.51.100.30]: 554 5.7.1 <victim@example.org>: Relay access denied; from=<spam@example.com> to=<victim@example.org> proto=ESMTP helo=<x>',
    pattern: 'postfix-relay-denied',
    ip: '198.51.100.30',
  },
  {
    line: 'Nov 24 16:05:48 mail postfix/smtpd[2213]: NOQUEUE: reject: RCPT from unknown[2001:db8::30]: 554 5.7.1 <victim@example.org>: Relay access denied; from=<spam@example.com> to=<victim@example.org> proto=ESMTP helo=<x>',
    pattern: 'postfix-relay-denied',
    ip: '2001:db8::30',
  },
  {
    line: 'Nov 24 16:05:49 mail postfix/smtpd[2214]: lost connection after AUTH from unknown[203.0.113.40]',
    pattern: 'postfix-lost-after-auth',
    ip: '203.0.113.40',
  },
  {
    line: 'Nov 24 16:05:49 mail postfix/submission/smtpd[2215]: lost connection after AUTH from client.example.net[2001:db8::40]',
    pattern: 'postfix-lost-after-auth',
    ip: '2001:db8::40',
  },
  // SOGo
  {
    line: "Nov 24 16:05:50 mail sogod [3253]: SOGoRootPage Login from '203.0.113.50' for user 'alice' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0",
    pattern: 'sogo-login-failed',
    ip: '203.0.113.50',
  },
  {
    line: "Nov 24 16:05:50 mail sogod[3253]: SOGoRootPage Login from '10.0.0.2, 2001:db8::50' for user 'bob' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0",
    pattern: 'sogo-login-failed',
    ip: '2001:db8::50',
  },
  // sshd
  {
    line: 'Nov 24 16:05:51 gw sshd[9001]: Failed password for root from 203.0.113.60 port 52144 ssh2',
    pattern: 'sshd-failed-password',
    ip: '203.0.113.60',
  },
  {
    line: 'Nov 24 16:05:51 gw sshd[9002]: Failed password for invalid user admin from 2001:db8::60 port 40022 ssh2',
    pattern: 'sshd-failed-password',
    ip: '2001:db8::60',
  },
  {
    line: 'Oct 15 10:30:17 ssh sshd: Failed password for root from 172.16.0.100 port 22 ssh2',
    pattern: 'sshd-failed-password',
    ip: '172.16.0.100',
  },
  {
    line: 'Nov 24 16:05:52 gw sshd[9003]: Invalid user oracle from 198.51.100.61 port 33410',
    pattern: 'sshd-invalid-user',
    ip: '198.51.100.61',
  },
  {
    line: 'Nov 24 16:05:52 gw sshd[9003]: Invalid user test from 2001:db8::61 port 33411',
    pattern: 'sshd-invalid-user',
    ip: '2001:db8::61',
  },
  // Dovecot's own log file (log_path), and 2.3.11+ auth-worker connection prefixes
  {
    line: 'Nov 24 16:05:41 imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.10, TLS, session=<x7dK1Y3Z>',
    pattern: 'dovecot-auth-failed',
    ip: '203.0.113.9',
  },
  {
    line: '2026-11-24 16:05:41 pop3-login: Info: Login aborted: Connection closed (auth failed, 3 attempts in 9 secs) (auth_failed): user=<bob>, method=PLAIN, rip=2001:db8::9a, lip=2001:db8::10, session=<x>',
    pattern: 'dovecot-auth-failed',
    ip: '2001:db8::9a',
  },
  {
    line: 'Nov 24 16:05:44 auth: Info: passwd-file(alice@example.com,203.0.113.11,<x7dK>): Password mismatch',
    pattern: 'dovecot-password-mismatch',
    ip: '203.0.113.11',
  },
  {
    line: 'Nov 24 16:05:45 mail dovecot: auth-worker(4711): conn unix:auth-worker (pid=4700,uid=97): auth-worker<3>: sql(bob@example.com,2001:db8::78,<Yq2k>): Password mismatch',
    pattern: 'dovecot-password-mismatch',
    ip: '2001:db8::78',
  },
  {
    line: 'Nov 24 16:05:46 auth-worker(4711): Info: sql(ghost@example.com,198.51.100.12): unknown user',
    pattern: 'dovecot-unknown-user',
    ip: '198.51.100.12',
  },
  // Postfix
  {
    line: 'Nov 24 16:05:49 mail postfix/smtpd[2216]: too many errors after AUTH from unknown[203.0.113.41]',
    pattern: 'postfix-auth-errors',
    ip: '203.0.113.41',
  },
  {
    line: 'Nov 24 16:05:49 mail postfix/submission/smtpd[2216]: too many errors after AUTH from bad.example.net[2001:db8::41]',
    pattern: 'postfix-auth-errors',
    ip: '2001:db8::41',
  },
  {
    line: 'Nov 24 16:05:49 mail postfix/smtpd[2217]: improper command pipelining after CONNECT from unknown[198.51.100.42]: EHLO x\\r\\nMAIL FROM:<a@b>\\r\\n',
    pattern: 'postfix-pipelining',
    ip: '198.51.100.42',
  },
  {
    line: 'Nov 24 16:05:49 mail postfix/smtpd[2217]: improper command pipelining after EHLO from unknown[2001:db8::42]: QUIT\\r\\n',
    pattern: 'postfix-pipelining',
    ip: '2001:db8::42',
  },
  // sshd: OpenSSH >= 9.8 logs from sshd-session; refusals and pre-auth disconnects
  {
    line: 'Nov 24 16:05:51 gw sshd-session[9101]: Failed password for root from 203.0.113.62 port 52144 ssh2',
    pattern: 'sshd-failed-password',
    ip: '203.0.113.62',
  },
  {
    line: 'Nov 24 16:05:51 gw sshd-session[9102]: Invalid user admin from 2001:db8::62 port 40022',
    pattern: 'sshd-invalid-user',
    ip: '2001:db8::62',
  },
  {
    line: 'Nov 24 16:05:51 gw sshd[9103]: error: maximum authentication attempts exceeded for root from 203.0.113.63 port 52150 ssh2 [preauth]',
    pattern: 'sshd-max-auth-tries',
    ip: '203.0.113.63',
  },
  {
    line: 'Nov 24 16:05:51 gw sshd-session[9104]: error: maximum authentication attempts exceeded for invalid user oracle from 2001:db8::63 port 40030 ssh2 [preauth]',
    pattern: 'sshd-max-auth-tries',
    ip: '2001:db8::63',
  },
  {
    line: 'Nov 24 16:06:09 gw sshd[9001]: Connection closed by authenticating user root 203.0.113.60 port 52144 [preauth]',
    pattern: 'sshd-preauth-closed',
    ip: '203.0.113.60',
  },
  {
    line: 'Nov 24 16:06:09 gw sshd-session[9005]: Connection closed by invalid user test 2001:db8::64 port 52145 [preauth]',
    pattern: 'sshd-preauth-closed',
    ip: '2001:db8::64',
  },
  {
    line: 'Nov 24 16:06:09 gw sshd-session[9006]: Disconnected from authenticating user root 198.51.100.64 port 52146 [preauth]',
    pattern: 'sshd-preauth-closed',
    ip: '198.51.100.64',
  },
  // nginx (error log sent to syslog, and the plain error.log format for replays)
  {
    line: 'Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 user "alice": password mismatch, client: 203.0.113.70, server: example.com, request: "GET /admin/ HTTP/1.1", host: "example.com"',
    pattern: 'nginx-auth-basic',
    ip: '203.0.113.70',
  },
  {
    line: '2026/11/24 16:05:54 [error] 1234#1234: *6 user "mallory" was not found in "/etc/nginx/.htpasswd", client: 2001:db8::70, server: example.com, request: "GET /admin/ HTTP/2.0", host: "example.com"',
    pattern: 'nginx-auth-basic',
    ip: '2001:db8::70',
  },
  {
    line: 'Nov 24 16:05:55 web nginx: 2026/11/24 16:05:55 [error] 1234#1234: *7 limiting requests, excess: 10.500 by zone "one", client: 203.0.113.80, server: example.com, request: "POST /login HTTP/1.1", host: "example.com"',
    pattern: 'nginx-limit-req',
    ip: '203.0.113.80',
  },
  {
    line: '2026/11/24 16:05:56 [warn] 1234#1234: *8 limiting requests, excess: 0.960 by zone "api", client: 2001:db8::80, server: api.example.com, request: "GET /v1/x HTTP/1.1", host: "api.example.com"',
    pattern: 'nginx-limit-req',
    ip: '2001:db8::80',
  },
  // shapes from fail2ban's own sample logs (tests/files/logs: sshd, postfix, dovecot)
  {
    line: 'Jun 13 16:30:54 platypus dovecot: imap-login: Disconnected (auth failed, 2 attempts): user=<username.bob>, method=PLAIN, rip=49.176.98.87, lip=113.212.99.194, TLS',
    pattern: 'dovecot-auth-failed',
    ip: '49.176.98.87',
  },
  {
    line: 'Aug 29 03:17:18 server dovecot: submission-login: Client has quit the connection (auth failed, 1 attempts in 2 secs): user=<user1>, method=LOGIN, rip=2001:db8::133, lip=0.0.0.0',
    pattern: 'dovecot-auth-failed',
    ip: '2001:db8::133',
  },
  {
    line: 'Aug 28 06:38:52 s166 dovecot: imap-login: Disconnected: Connection closed: read(size=1003) failed: Connection reset by peer (auth failed, 1 attempts in 0 secs): user=<test@example.com>, rip=192.0.2.4, lip=127.0.0.1',
    pattern: 'dovecot-auth-failed',
    ip: '192.0.2.4',
  },
  {
    line: 'Dec  2 10:00:00 imap-login: Info: Disconnected (auth failed, 3 attempts in 9 secs): user=<x>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1',
    pattern: 'dovecot-auth-failed',
    ip: '203.0.113.5',
  },
  {
    line: 'Jun 12 11:48:12 auth-worker(80180): Info: conn unix:auth-worker (uid=143): auth-worker<13247>: sql(support,192.0.2.6): unknown user',
    pattern: 'dovecot-unknown-user',
    ip: '192.0.2.6',
  },
  {
    line: 'Mar 23 06:10:52 auth: Info: ldap(dog,52.37.139.121,): invalid credentials',
    pattern: 'dovecot-password-mismatch',
    ip: '52.37.139.121',
  },
  {
    line: 'Jan 29 14:38:51 example.com dovecot[24941]: auth-worker(30165): pam(user@example.com,2001:db8::6,<PNHQq8pZhqIKAQGd>): pam_authenticate() failed: Permission denied',
    pattern: 'dovecot-password-mismatch',
    ip: '2001:db8::6',
  },
  {
    line: 'Apr 19 05:22:20 vm5 auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=informix rhost=80.255.3.104',
    pattern: 'dovecot-pam-unix',
    ip: '80.255.3.104',
  },
  {
    line: 'Apr 19 05:22:21 vm5 dovecot: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=root rhost=2001:db8::104  user=root',
    pattern: 'dovecot-pam-unix',
    ip: '2001:db8::104',
  },
  {
    line: 'Jan 29 08:11:45 mail postfix-incoming/smtpd[10752]: warning: unknown[1.1.1.1]: SASL LOGIN authentication failed: Password:',
    pattern: 'postfix-sasl-failed',
    ip: '1.1.1.1',
  },
  {
    line: 'Aug  4 16:47:52 mail3 postfix/smtpd[31152]: warning: unknown[2001:db8::237]:55729: SASL LOGIN authentication failed: authentication failure',
    pattern: 'postfix-sasl-failed',
    ip: '2001:db8::237',
  },
  {
    line: 'Dec 18 02:05:46 platypus postfix/smtpd[16349]: improper command pipelining after NOOP from unknown[216.245.198.245]',
    pattern: 'postfix-pipelining',
    ip: '216.245.198.245',
  },
  {
    line: 'Apr 29 20:11:08 Jamess-iMac.local sshd[63814]: [ID 800047 auth.info] Failed keyboard-interactive for <invalid username> from 205.186.180.35 port 42742 ssh2',
    pattern: 'sshd-failed-password',
    ip: '205.186.180.35',
  },
  {
    line: 'Sep 29 16:28:02 spaceman sshd[16699]: Failed password for dan from 127.0.0.1 port 45416 ssh1',
    pattern: 'sshd-failed-password',
    ip: '127.0.0.1',
  },
  {
    line: 'Mar 16 09:29:50 host sshd[19131]: Connection reset by authenticating user root 192.0.2.20 port 1558 [preauth]',
    pattern: 'sshd-preauth-closed',
    ip: '192.0.2.20',
  },
  {
    line: 'Apr 16 22:01:15 al-ribat sshd[5154]: User root from 46.45.128.3 not allowed because listed in DenyUsers',
    pattern: 'sshd-user-not-allowed',
    ip: '46.45.128.3',
  },
  {
    line: "Jan  5 11:15:05 NAS sshd-session[1966]: User root from 2001:db8::40 not allowed because none of user's groups are listed in AllowGroups",
    pattern: 'sshd-user-not-allowed',
    ip: '2001:db8::40',
  },
  {
    line: 'Apr 29 12:53:38 Jamess-iMac.local sshd[47831]: error: PAM: authentication failure for james from 205.186.180.88 via 192.168.1.201',
    pattern: 'sshd-pam-failure',
    ip: '205.186.180.88',
  },
  {
    line: 'May 29 20:56:56 imago sshd[28732]: error: PAM: Authentication failure for test-ipv6 from 2606:2800:220:1:248:1893:25c8:1946',
    pattern: 'sshd-pam-failure',
    ip: '2606:2800:220:1:248:1893:25c8:1946',
  },
  {
    line: 'Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM 1.2.3.4 port 12345 [preauth]',
    pattern: 'sshd-root-refused',
    ip: '1.2.3.4',
  },
  {
    line: 'Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM ::ffff:1.2.3.4',
    pattern: 'sshd-root-refused',
    ip: '1.2.3.4',
  },
  {
    line: 'Jan  5 01:31:42 www sshd-session[1644]: ROOT LOGIN REFUSED FROM 2001:db8::4',
    pattern: 'sshd-root-refused',
    ip: '2001:db8::4',
  },
];

/** Lines that must not count: successes, lookalikes, invalid addresses and injection attempts. */
export const noMatch: string[] = [
  'Nov 24 16:06:01 mail dovecot: imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.10, mpid=4242, TLS, session=<x>',
  'Oct 15 10:30:15 mail dovecot: auth failed, rip=invalid.ip.address',
  'Oct 15 10:30:15 mail dovecot: successful login for user@example.com',
  // a user name carrying a failure-looking text must not plant an address in a success line
  'Nov 24 16:06:02 mail dovecot: imap-login: Login: user=<(auth failed, 1 attempts in 2 secs): x, rip=6.6.6.6>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.10',
  'Nov 24 16:06:03 mail dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.5, lip=192.0.2.10, TLS handshaking: Connection closed',
  'Nov 24 16:06:04 mail dovecot: auth: passwd-file(alice@example.com,203.0.113.7,<x>): Password ok',
  'Nov 24 16:06:05 mail postfix/smtpd[2211]: connect from unknown[203.0.113.20]',
  'Nov 24 16:06:05 mail postfix/smtpd[2211]: disconnect from unknown[203.0.113.20] ehlo=1 auth=0/1 quit=1 commands=2/3',
  'Nov 24 16:06:06 mail postfix/smtpd[2211]: lost connection after DATA from unknown[203.0.113.21]',
  'Nov 24 16:06:06 mail postfix/smtpd[2211]: 4F2C81A2B3: client=mail.example.net[198.51.100.1], sasl_method=PLAIN, sasl_username=alice',
  'Nov 24 16:06:07 mail postfix/smtp[2300]: 4F2C81A2B3: to=<bob@example.org>, relay=mx.example.org[192.0.2.25]:25, delay=0.5, dsn=2.0.0, status=sent (250 OK)',
  "Nov 24 16:06:08 mail sogod [3253]: SOGoRootPage successful login from '203.0.113.50' for user 'alice' - expire: -1  grace: -1",
  'Nov 24 16:06:09 gw sshd[9001]: Connection closed by 203.0.113.60 port 52144 [preauth]',
  'Nov 24 16:06:09 gw sshd-session[9001]: Accepted password for deploy from 203.0.113.60 port 52144 ssh2',
  'Nov 24 16:06:09 gw sshd[9001]: Accepted publickey for deploy from 203.0.113.60 port 52144 ssh2: ED25519 SHA256:abc',
  'Nov 24 16:06:10 gw sshd[9004]: Failed password for root from 999.1.1.1 port 22 ssh2',
  'Nov 24 16:06:11 web nginx: 2026/11/24 16:06:11 [error] 1234#1234: *9 no user/password was provided for basic authentication, client: 203.0.113.70, server: example.com, request: "GET /admin/ HTTP/1.1", host: "example.com"',
  'Nov 24 16:06:12 web nginx: 2026/11/24 16:06:12 [error] 1234#1234: *10 open() "/var/www/html/favicon.ico" failed (2: No such file or directory), client: 203.0.113.71, server: example.com, request: "GET /favicon.ico HTTP/1.1"',
  'Nov 24 16:06:13 web kernel: [12345.678] IN=eth0 OUT= SRC=203.0.113.90 DST=192.0.2.1 LEN=60 PROTO=TCP DPT=22',
  // server-side SASL failures (the auth server is down, a mechanism is off) are not the client's
  'Feb  3 08:29:28 mail postfix/smtpd[21022]: warning: unknown[1.1.1.1]: SASL LOGIN authentication failed: Connection lost to authentication server',
  'Jan 14 16:18:16 xxx postfix/smtpd[14933]: warning: host[192.0.2.5]: SASL CRAM-MD5 authentication failed: Invalid authentication mechanism',
  // ssh1's ruser is the client's text, after the real address
  'Sep 29 17:15:02 spaceman sshd[12946]: Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4',
  // an offered key the server did not take; sshd's pam_unix line repeats the Failed password one
  'Nov 28 09:16:03 srv sshd[32307]: Failed publickey for git from 192.0.2.1 port 57904 ssh2: ECDSA 0e:ff:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx',
  'Mar  7 18:53:22 bar sshd[1558]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=root rhost=192.0.2.114',
  'Mar  7 18:53:24 bar sshd[1558]: Accepted password for known from 192.0.2.114 port 52100 ssh2',
  'Dec  2 10:00:01 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, mpid=4242, TLS',
  '\u0000\u0001garbage \uFFFD\uFFFD rip=1.2.3.4 not a real line',
];
