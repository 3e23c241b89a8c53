import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { ConfigError, loadConfig } from '../../src/main/config/load.js';
import { JAIL_FIELDS, SUBNET_FIELDS } from '../../src/main/jails/fields.js';
import { globMatch } from '../../src/main/jails/resolve.js';
import { compilePattern } from '../../src/shared/patterns/compile.js';
import { EDGEBAN_BIN } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

const M = 60_000;
const H = 60 * M;
const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'config.yaml');

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  const cwd = tempDir('edgeban-jails-');
  const path = join(cwd, 'config.yaml');
  writeFileSync(path, text);
  const r = loadConfig({ path, env });
  return { config: r.config, warnings: r.warnings, path };
}

function problems(text: string): { path: string; lines: string[] } {
  const cwd = tempDir('edgeban-jails-');
  const path = join(cwd, 'config.yaml');
  writeFileSync(path, text);
  try {
    loadConfig({ path, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'E_CONFIG');
    return { path, lines: err.message.split('\n') };
  }
  assert.fail('expected a ConfigError');
}

const PATTERNS = `syslog:
  patterns:
    - {name: sshd-fail, regex: 'sshd\\S*: Failed password for .* from (?P<ip>\\S+)', ip_group: ip}
    - {name: sshd-ok, regex: 'sshd\\S*: Accepted password for .* from (?P<ip>\\S+)', ip_group: ip, success: true}
    - {name: nginx-404, regex: 'nginx: (?P<ip>\\S+) .* 404', ip_group: ip}
`;

test('a jails section: every key parsed, durations as ban: parses them, unset keys from ban: (after env)', () => {
  const r = load(
    `${PATTERNS}ban:
  max_attempts: 7
  initial_ban_time: 10m
jails:
  sshd:
    patterns: [sshd-*]
    max_attempts: 3
    time_window: 10m
    initial_ban_time: 1h
    max_ban_time: 168h
    escalation_factor: 3
    services: [SSH]
    weight: severity
    mode: shadow
    subnet: {prefix: 24, addresses: 5, window: 1h}
    logpath: [/var/log/auth.log, /var/log/auth.log, '/var/log/sshd/*.log']
  nginx-botsearch:
    patterns: [nginx-404]
    services: [http, https]
    weight: 1
  recidive:
    source: bans
    source_jails: [sshd]
    time_window: 24h
    initial_ban_time: 168h
    enabled: false
`,
    { FAIL2BAN_BAN_TIME_WINDOW: '20m' },
  );
  assert.deepEqual(r.warnings, []);
  const [nginx, recidive, sshd] = r.config.jails;
  assert.deepEqual(
    r.config.jails.map((j) => j.name),
    ['nginx-botsearch', 'recidive', 'sshd'],
    'name order',
  );
  assert.deepEqual(sshd, {
    name: 'sshd',
    enabled: true,
    patterns: ['sshd-*'],
    maxAttempts: 3,
    timeWindow: 10 * M,
    initialBanTime: H,
    maxBanTime: 168 * H,
    escalationFactor: 3,
    services: ['ssh'],
    weight: 'severity',
    source: 'logs',
    sourceJails: [],
    mode: 'shadow',
    subnet: { prefixV4: 24, addresses: 5, window: H },
    logpath: ['/var/log/auth.log', '/var/log/sshd/*.log'],
    origin: 'config',
  });
  assert.deepEqual(nginx.logpath, [], 'no logpath: syslog and the files no jail reads');
  // unset: ban: as finally set (file for max_attempts, environment for time_window)
  assert.equal(nginx.maxAttempts, 7);
  assert.equal(nginx.timeWindow, 20 * M);
  assert.equal(nginx.initialBanTime, 10 * M);
  assert.equal(nginx.maxBanTime, 24 * H);
  assert.equal(nginx.escalationFactor, 2);
  assert.equal(nginx.weight, 'one');
  assert.equal(nginx.mode, 'enforce');
  assert.deepEqual(nginx.services, ['http', 'https']);
  assert.equal(nginx.subnet, null);
  assert.equal(recidive.source, 'bans');
  assert.deepEqual(recidive.sourceJails, ['sshd']);
  assert.equal(recidive.enabled, false);
  // a one-week first ban under a 24 h ban: maximum is one week, not an error
  assert.equal(recidive.maxBanTime, 168 * H);
});

test('no jails section: the config is exactly what it was (no jails, the ban: policy)', () => {
  const r = load('ban:\n  max_attempts: 4\n');
  const d = defaultConfig();
  d.ban.max_attempts = 4;
  assert.deepEqual(r.config, d);
  assert.deepEqual(r.config.jails, []);
  assert.deepEqual(load('jails:\n').config.jails, [], 'an empty section is none');
});

test('jail errors name the key, the file and the line, all of them at once', () => {
  const { path, lines } = problems(`${PATTERNS}jails:
  sshd:
    patterns: [sshd-*]
    max_atempts: 3
    services: [ssh, "im ap"]
    weight: heavy
  default:
    patterns: [nginx-*]
  web:
    max_attempts: 0
    time_window: soon
    subnet: {prefix: 40, addresses: 5}
  recidive:
    source: bans
    patterns: [sshd-*]
  files:
    logpath: [var/log/auth.log]
`);
  const has = (prefix: string) =>
    assert.ok(
      lines.some((l) => l.startsWith(prefix)),
      `${prefix}\n--- got:\n${lines.join('\n')}`,
    );
  has(`${path}:9: jails.sshd.max_atempts: unknown key (did you mean max_attempts?)`);
  has(`${path}:10: jails.sshd.services[1]: expected a service name`);
  has(`${path}:11: jails.sshd.weight: expected one of 1, one, severity, found string "heavy"`);
  has(`${path}:12: jails.default: expected a name other than "default" (reserved`);
  has(`${path}:15: jails.web.max_attempts: expected a whole number 1..1000000, found number 0`);
  has(`${path}:16: jails.web.time_window: expected a positive duration`);
  has(`${path}:17: jails.web.subnet.prefix: expected an IPv4 prefix length 8..31, found number 40`);
  has(`${path}:20: jails.recidive.patterns: expected no patterns for a jail with source: bans`);
  has(`${path}:22: jails.files.logpath[0]: expected an absolute path or glob`);
  assert.equal(lines.length, 9, lines.join('\n'));
  const list = problems('jails: [sshd]\n');
  assert.deepEqual(list.lines, [
    `${list.path}:1: jails: expected a mapping of jail name to its keys (jails: {sshd: {patterns: [sshd-*]}}), found a list`,
  ]);
});

test('edgeban serve refuses a bad jail with exit 2, naming file, line and key', async () => {
  const cwd = tempDir('edgeban-jails-serve-');
  const path = join(cwd, 'bad.yaml');
  writeFileSync(path, 'jails:\n  sshd:\n    mode: loud\n');
  const proc = spawn(process.execPath, [EDGEBAN_BIN, 'serve', '--config', path], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  assert.equal(code, 2, err);
  assert.match(
    err,
    new RegExp(`${path}:3: jails\\.sshd\\.mode: expected one of enforce, shadow, found string "loud"`),
  );
});

test('a pattern two jails claim: the first by name has it, one warning naming both', () => {
  const r = load(`${PATTERNS}jails:
  web:
    patterns: [nginx-404]
  ssh-b:
    patterns: ["sshd-*"]
  ssh-a:
    patterns: [sshd-fail, "nginx-4?4"]
`);
  assert.deepEqual(
    r.warnings.map((w) => w.replace(`${r.path}: `, '')),
    [
      'pattern "sshd-fail" is claimed by jails "ssh-a" and "ssh-b": "ssh-a" (first by name) has it',
      'pattern "nginx-404" is claimed by jails "ssh-a" and "web": "ssh-a" (first by name) has it',
    ],
  );
  // the built-in presets are what jails claim when the config lists no pattern
  const presets = load('jails:\n  a:\n    patterns: ["*"]\n  b:\n    patterns: ["*"]\n');
  assert.ok(presets.warnings.length >= 5, presets.warnings.join('\n'));
});

test('patterns: success: true is carried into the compiled pattern; anything but a boolean is refused', () => {
  const r = load(PATTERNS);
  const ok = r.config.syslog.patterns.find((p) => p.name === 'sshd-ok');
  assert.equal(ok?.success, true);
  assert.equal(compilePattern(ok as never, 0).success, true);
  const fail = r.config.syslog.patterns.find((p) => p.name === 'sshd-fail');
  assert.equal(compilePattern(fail as never, 0).success, false);
  const { lines } = problems(
    "syslog:\n  patterns:\n    - {name: a, regex: 'x (?P<ip>\\S+)', ip_group: ip, success: yes please}\n",
  );
  assert.match(lines[0], /syslog\.patterns\[0\]\.success: expected true or false/);
});

test('globs: * and ? only, anchored at both ends, never exponential', () => {
  assert.equal(globMatch('sshd-*', 'sshd-session'), true);
  assert.equal(globMatch('sshd-*', 'xsshd-session'), false);
  assert.equal(globMatch('*-auth', 'nginx-http-auth'), true);
  assert.equal(globMatch('a?c', 'abc'), true);
  assert.equal(globMatch('a?c', 'ac'), false);
  assert.equal(globMatch('*', ''), true);
  assert.equal(globMatch('sshd', 'sshd-x'), false);
  const t0 = performance.now();
  assert.equal(globMatch(`${'*a'.repeat(30)}b`, 'a'.repeat(200)), false);
  assert.ok(performance.now() - t0 < 1000);
});

test('examples/config.yaml shows every jail key and subnet key in its commented example, and loads', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  for (const k of JAIL_FIELDS)
    assert.match(text, new RegExp(`^#\\s+${k}:`, 'm'), `examples/config.yaml has ${k}`);
  for (const k of SUBNET_FIELDS) assert.match(text, new RegExp(`subnet: \\{.*\\b${k}: `), k);
  assert.match(text, /^\s*#?\s+success: /m, 'the pattern key success');
  // uncommented, the example jails load as they are
  const block = text.slice(text.indexOf('jails: {}'));
  const uncommented = block
    .replace('jails: {}', 'jails:')
    .split('\n')
    .map((l) => (l.startsWith('#  ') ? l.slice(1) : l))
    .join('\n');
  const r = load(uncommented);
  assert.deepEqual(
    r.config.jails.map((j) => j.name),
    ['recidive', 'sshd'],
  );
});
