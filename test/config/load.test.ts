import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { formatDuration, parseDuration } from '../../src/main/config/duration.js';
import {
  ConfigError,
  findConfigFile,
  keyLines,
  loadConfig,
  maskSecrets,
} from '../../src/main/config/load.js';
import { tempDir } from '../helpers/tmp.js';

function dirWith(files: Record<string, string>): string {
  const d = tempDir('edgeban-cfg-');
  for (const [n, c] of Object.entries(files)) writeFileSync(join(d, n), c);
  return d;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, 'E_CONFIG');
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('no file anywhere: the embedded defaults of the reference system', () => {
  const cwd = dirWith({});
  const r = loadConfig({ cwd, env: {}, systemPaths: [] });
  assert.equal(r.path, null);
  assert.deepEqual(r.config, defaultConfig());
  assert.equal(r.config.spoa.port, 12345);
  assert.equal(r.config.ban.initial_ban_time, 5 * 60_000);
  assert.equal(r.config.ban.max_memory_ttl, 72 * 3_600_000);
  assert.deepEqual(r.config.api.allowed_ips, ['127.0.0.1/32', '::1/128']);
});

test('search order: --config, EDGEBAN_CONFIG, ./config.yaml, ./config.yml, system paths', () => {
  const cwd = dirWith({ 'config.yml': 'spoa: {port: 2}', 'other.yaml': 'spoa: {port: 3}', 'sys.yaml': '' });
  assert.equal(findConfigFile({ cwd, env: {}, systemPaths: [] }), join(cwd, 'config.yml'));
  writeFileSync(join(cwd, 'config.yaml'), 'spoa: {port: 1}');
  assert.equal(findConfigFile({ cwd, env: {}, systemPaths: [] }), join(cwd, 'config.yaml'));
  assert.equal(
    findConfigFile({ cwd, env: { EDGEBAN_CONFIG: 'other.yaml' }, systemPaths: [] }),
    join(cwd, 'other.yaml'),
  );
  assert.equal(
    findConfigFile({ cwd, path: 'sys.yaml', env: { EDGEBAN_CONFIG: 'other.yaml' } }),
    join(cwd, 'sys.yaml'),
  );
  const empty = dirWith({});
  assert.equal(
    findConfigFile({ cwd: empty, env: {}, systemPaths: [join(cwd, 'sys.yaml')] }),
    join(cwd, 'sys.yaml'),
  );
  assert.equal(loadConfig({ cwd, env: {}, systemPaths: [] }).config.spoa.port, 1);
});

test('a file overrides defaults; keys are case-insensitive; durations are Go-style', () => {
  const cwd = dirWith({
    'config.yaml':
      'SPOA:\n  Port: 1234\n  read_timeout: 1m30s\nban:\n  INITIAL_BAN_TIME: 90\n  escalation_factor: 3\n  time_window: 250ms\n',
  });
  const c = loadConfig({ cwd, env: {}, systemPaths: [] }).config;
  assert.equal(c.spoa.port, 1234);
  assert.equal(c.spoa.read_timeout, 90_000);
  assert.equal(c.ban.initial_ban_time, 90_000, 'a bare number is seconds');
  assert.equal(c.ban.time_window, 250);
  assert.equal(c.ban.escalation_factor, 3);
  assert.equal(c.nginx.port, 8888, 'untouched keys keep their defaults');
});

test('env overrides in the documented underscore form and the dotted form, lists comma-separated', () => {
  const cwd = dirWith({ 'config.yaml': 'spoa:\n  port: 1\n' });
  const r = loadConfig({
    cwd,
    systemPaths: [],
    env: {
      FAIL2BAN_SPOA_PORT: '999',
      FAIL2BAN_API_RATE_LIMITING_REQUESTS_PER_MINUTE: '7',
      'FAIL2BAN_BAN.MAX_ATTEMPTS': '3',
      FAIL2BAN_API_ALLOWED_IPS: '10.0.0.0/8, 1.1.1.1',
      FAIL2BAN_LOG_LEVEL: 'debug',
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_BAN_TIME_WINDOW: '2m',
      FAIL2BAN_NO_SUCH_KEY: 'x',
    },
  });
  assert.equal(r.config.spoa.port, 999);
  assert.equal(r.config.api.rate_limiting.requests_per_minute, 7);
  assert.equal(r.config.ban.max_attempts, 3);
  assert.deepEqual(r.config.api.allowed_ips, ['10.0.0.0/8', '1.1.1.1']);
  assert.equal(r.config.log.level, 'debug');
  assert.equal(r.config.database.enabled, false);
  assert.equal(r.config.ban.time_window, 120_000);
  assert.deepEqual(r.warnings, ['env FAIL2BAN_NO_SUCH_KEY: matches no configuration key']);
});

test('every problem is reported at once, with key, file, line, expected and found', () => {
  const cwd = dirWith({
    'config.yaml': [
      'syslog:',
      '  patterns:',
      '    - name: broken',
      '      regex: "(unclosed"',
      'ban:',
      '  escalation_factor: 1',
      '  max_attempts: many',
      'spoa:',
      '  port: 70000',
      '  read_timeout: -5s',
      'api:',
      '  allowed_ips: ["10.0.0.0/33"]',
      '',
    ].join('\n'),
  });
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  const file = join(cwd, 'config.yaml');
  assert.equal(lines.length, 6, lines.join('\n'));
  assert.ok(
    lines.some(
      (l) => l.startsWith(`${file}:4: syslog.patterns[0].regex:`) && l.includes('Unterminated group'),
    ),
    lines.join('\n'),
  );
  assert.ok(
    lines.includes(`${file}:6: ban.escalation_factor: expected a value greater than 1, found number 1`),
  );
  assert.ok(lines.includes(`${file}:7: ban.max_attempts: expected a whole number, found string "many"`));
  assert.ok(lines.includes(`${file}:9: spoa.port: expected a value of at most 65535, found number 70000`));
  assert.ok(
    lines.some((l) =>
      l.startsWith(`${file}:10: spoa.read_timeout: expected a duration that is not negative`),
    ),
  );
  assert.ok(
    lines.some(
      (l) =>
        l.startsWith(`${file}:12: api.allowed_ips[0]: expected addresses or CIDRs`) &&
        l.includes('10.0.0.0/33'),
    ),
  );
});

test('a YAML syntax error names the file and line', () => {
  const cwd = dirWith({ 'config.yaml': 'spoa:\n  port: 1\n   bad: [\n' });
  const [line] = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.match(line, new RegExp(`^${join(cwd, 'config.yaml')}:\\d+: \\(syntax\\): expected valid YAML`));
});

test('an unreadable file and a non-mapping document are clear errors', () => {
  const cwd = dirWith({ 'list.yaml': '- a\n- b\n' });
  assert.match(
    problemsOf(() => loadConfig({ cwd, path: 'missing.yaml', env: {} }))[0],
    /missing\.yaml: \(file\): expected a readable YAML file, found ENOENT/,
  );
  assert.match(
    problemsOf(() => loadConfig({ cwd, path: 'list.yaml', env: {} }))[0],
    /expected a mapping of sections, found a list/,
  );
});

test('unknown keys are errors with file, line and a suggestion; --allow-unknown makes them warnings', () => {
  const cwd = dirWith({ 'config.yaml': 'ban:\n  max_attempt: 3\nspoa:\n  prot: 1\nnginx: 5\n' });
  const file = join(cwd, 'config.yaml');
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.ok(
    lines.includes(`${file}:5: nginx: expected a section (mapping), found number 5`),
    lines.join('\n'),
  );
  // the suggestions are there next to the real error
  assert.ok(lines.includes(`${file}:2: ban.max_attempt: unknown key (did you mean ban.max_attempts?)`));
  assert.ok(lines.includes(`${file}:4: spoa.prot: unknown key (did you mean spoa.port?)`));
  writeFileSync(file, 'ban:\n  max_attempt: 3\nspoa:\n  prot: 1\n');
  assert.equal(problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] })).length, 2);
  const r = loadConfig({ cwd, env: {}, systemPaths: [], allowUnknown: true });
  assert.ok(
    r.warnings.includes(`${file}:2: unknown key ban.max_attempt (did you mean ban.max_attempts?)`),
    r.warnings.join('\n'),
  );
  assert.ok(r.warnings.includes(`${file}:4: unknown key spoa.prot (did you mean spoa.port?)`));
});

test('a misspelled section is an error naming the section it meant, not a silently dropped section', () => {
  const cwd = dirWith({ 'config.yaml': '# edge\ndatabse:\n  driver: postgres\n  dsn: postgres://x@db/e\n' });
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.deepEqual(lines, [`${join(cwd, 'config.yaml')}:2: databse: unknown key (did you mean database?)`]);
});

test('a problem inside a list points at the entry, not at the list', () => {
  const cwd = dirWith({
    'config.yaml': [
      'syslog:',
      '  patterns:',
      '    - name: good',
      '      regex: "login failed from ([0-9.]+)"',
      '    - name: bad',
      '      description: unclosed group',
      '      regex: "(unclosed"',
      '    -  name: typo',
      '       regex: "x ([0-9.]+)"',
      '       severty: 2',
      '  allowed_sources:',
      '  - 127.0.0.1',
      '  - 10.0.0.0/33',
      'blacklist:',
      '  - 192.0.2.1',
      '  - {ip: nonsense, reason: x}',
      '',
    ].join('\n'),
  });
  const file = join(cwd, 'config.yaml');
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.ok(
    lines.some((l) => l.startsWith(`${file}:7: syslog.patterns[1].regex: expected a regex`)),
    lines.join('\n'),
  );
  assert.ok(
    lines.includes(
      `${file}:10: syslog.patterns[2].severty: expected one of the fields name, regex, ip_group, severity, description, enabled, raw, found an unknown field (did you mean severity?)`,
    ),
    lines.join('\n'),
  );
  assert.ok(
    lines.some(
      (l) =>
        l.startsWith(`${file}:13: syslog.allowed_sources[1]: expected addresses or CIDRs`) &&
        l.endsWith('found string "10.0.0.0/33"'),
    ),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${file}:16: blacklist[1]: expected addresses or CIDRs`)),
    lines.join('\n'),
  );
});

test('keyLines: keys and block-list entries with their lines', () => {
  const m = keyLines('a:\n  b:\n  - x\n  -   k: 1\n      j: 2\n  c: 3\nd:\n    - - 1\n      - 2\n"e": 1\n');
  assert.equal(m.get('a.b[0]'), 3);
  assert.equal(m.get('a.b[1]'), 4);
  assert.equal(m.get('a.b[1].k'), 4);
  assert.equal(m.get('a.b[1].j'), 5);
  assert.equal(m.get('a.c'), 6);
  assert.equal(m.get('d[0][0]'), 8);
  assert.equal(m.get('d[0][1]'), 9);
  assert.equal(m.get('e'), 10);
});

test('keys named like Object.prototype members are unknown keys, not a crash', () => {
  const cwd = dirWith({ 'config.yaml': 'constructor: 1\nspoa:\n  __proto__: 2\n  toString: 3\n' });
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.ok(
    lines.every((l) => l.includes('unknown key')),
    lines.join('\n'),
  );
});

test('reference rules: at least one proxy enabled, patterns need name, regex and a real ip_group', () => {
  const cwd = dirWith({
    'config.yaml':
      'spoa: {enabled: false}\nenvoy: {enabled: false}\nnginx: {enabled: false}\nsyslog:\n  patterns:\n    - regex: "x"\n    - name: g\n      regex: "rip=([0-9.]+)"\n      ip_group: 2\n    - name: ok\n      regex: "rip=(?P<ip>[0-9.]+)"\n      ip_group: ip\n',
  });
  const lines = problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }));
  assert.ok(lines.some((l) => l.includes('at least one proxy protocol enabled')));
  assert.ok(lines.some((l) => l.includes('syslog.patterns[0].name: expected a non-empty string')));
  assert.ok(
    lines.some((l) => l.includes('syslog.patterns[1].regex') && /ip_group|group/.test(l)),
    lines.join('\n'),
  );
  assert.ok(!lines.some((l) => l.includes('patterns[2]')), 'Python-style named groups are accepted');
});

test('static lists accept addresses, CIDRs and {ip, reason} entries', () => {
  const cwd = dirWith({
    'config.yaml':
      'blacklist:\n  - 10.0.0.0/8\n  - {ip: "2001:db8::/32", reason: abuse}\nwhitelist: ["192.168.1.1"]\n',
  });
  const c = loadConfig({ cwd, env: {}, systemPaths: [] }).config;
  assert.deepEqual(c.blacklist, [
    { ip: '10.0.0.0/8', reason: '' },
    { ip: '2001:db8::/32', reason: 'abuse' },
  ]);
  assert.deepEqual(c.whitelist, [{ ip: '192.168.1.1', reason: '' }]);
  writeFileSync(join(cwd, 'config.yaml'), 'whitelist: ["1.2.3"]\n');
  assert.match(
    problemsOf(() => loadConfig({ cwd, env: {}, systemPaths: [] }))[0],
    /whitelist\[0\]: expected addresses or CIDRs/,
  );
});

test('Go-style durations', () => {
  const cases: [unknown, number | null][] = [
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['10us', 0.01],
    ['10µs', 0.01],
    ['100ns', 100 * 1e-6],
    ['0', 0],
    [30, 30_000],
    ['30', 30_000],
    ['-5s', -5000],
    ['5 m', null],
    ['m', null],
    ['5x', null],
    ['', null],
    [true, null],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(0), '0s');
});

test('check-config masks secrets', () => {
  const c = defaultConfig();
  c.api.basic_auth.password = 'hunter2';
  c.api.basic_auth.users = { ops: 'pw' };
  c.api.tokens = ['t0k3n'];
  c.database.dsn = 'postgres://edge:s3cret@db/fail2ban';
  const m = maskSecrets(c);
  const text = JSON.stringify(m);
  for (const secret of ['hunter2', '"pw"', 't0k3n', 's3cret']) assert.ok(!text.includes(secret), secret);
  assert.equal(m.database.dsn, 'postgres://edge:********@db/fail2ban');
  assert.equal(c.api.basic_auth.password, 'hunter2', 'the running config is untouched');
});

test('examples/config.yaml lists every key with its default', () => {
  const path = join(import.meta.dirname, '..', '..', '..', 'examples', 'config.yaml');
  const r = loadConfig({ path, env: {} });
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.config, defaultConfig());
});
