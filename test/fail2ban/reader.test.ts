import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigSet } from '../../src/main/fail2ban/config.js';
import { Fail2banConfigError } from '../../src/main/fail2ban/errors.js';
import { parseFilterSpec, readFilter } from '../../src/main/fail2ban/filter.js';
import { parseIni } from '../../src/main/fail2ban/ini.js';
import { readJails } from '../../src/main/fail2ban/jails.js';
import { fail2banSeconds } from '../../src/main/fail2ban/time.js';
import { tempDir } from '../helpers/tmp.js';

/** fail2ban's own FilterReader (the Python package), as the reference for every option. */
const PY_READER = `
import json, os, sys
sys.path.insert(0, '/usr/lib/python3/dist-packages')
from fail2ban.client.filterreader import FilterReader
out = {}
for name, opts in json.loads(sys.argv[2]):
    r = FilterReader(name, 'jail', dict(opts), basedir=sys.argv[1]); r.read(); r.getOptions({})
    d = {'failregex': [], 'ignoreregex': [], 'prefregex': None, 'datepattern': None, 'maxlines': None}
    for o in r.convert():
        vals = o[3] if o[0] == 'multi-set' else [o[3]]
        for v in vals:
            k = o[2]
            if k in ('addfailregex', 'addignoreregex'): d[k[3:]].append(v)
            elif k in d: d[k] = v
    out[name + json.dumps(opts)] = d
print(json.dumps(out))
`;

test("every Debian filter (and its modes) reads to the options fail2ban's own reader gives", () => {
  const names = execFileSync('ls', ['/etc/fail2ban/filter.d'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('.conf') && !f.endsWith('-common.conf') && f !== 'common.conf')
    .map((f) => f.slice(0, -5));
  const cases: [string, Record<string, string>][] = names.map((n) => [n, {}]);
  cases.push(['sshd', { mode: 'aggressive' }], ['sshd', { mode: 'ddos', publickey: 'invalid' }]);
  cases.push(
    ['postfix', { mode: 'errors' }],
    ['asterisk', { logtype: 'journal' }],
    ['dovecot', { mode: 'aggressive' }],
  );
  const py = JSON.parse(
    execFileSync('python3', ['-c', PY_READER, '/etc/fail2ban', JSON.stringify(cases)], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  ) as Record<
    string,
    {
      failregex: string[];
      ignoreregex: string[];
      prefregex: string | null;
      datepattern: string | null;
      maxlines: string | null;
    }
  >;
  let compared = 0;
  for (const [name, opts] of cases) {
    const want = py[name + JSON.stringify(opts).replace(/":"/g, '": "').replace(/","/g, '", "')];
    assert.ok(want, `python answered for ${name} ${JSON.stringify(opts)}`);
    const got = readFilter('/etc/fail2ban', name, opts);
    assert.deepEqual(got.failregex, want.failregex, `${name} ${JSON.stringify(opts)} failregex`);
    assert.deepEqual(got.ignoreregex, want.ignoreregex, `${name} ignoreregex`);
    assert.equal(got.prefregex, want.prefregex, `${name} prefregex`);
    assert.equal(got.datepattern?.join('\n') ?? null, want.datepattern, `${name} datepattern`);
    if (want.maxlines !== null) assert.equal(got.maxlines, Number(want.maxlines), `${name} maxlines`);
    compared++;
  }
  assert.ok(compared >= 85, `${compared} filters compared`);
});

test('INI: continuation lines, comments, inline ";" comments, later keys win, keys lower-cased', () => {
  const ini = parseIni(
    '[Definition]\nFailRegex = ^a <HOST>$\n  ^b <HOST>$ ; second\n# comment\n\n  ^c <HOST>$\nx = 1\nx: 2\n',
    'f.conf',
  );
  const d = ini.sections.get('Definition');
  assert.equal(d?.get('failregex'), '^a <HOST>$\n^b <HOST>$\n^c <HOST>$');
  assert.equal(d?.get('x'), '2');
  assert.throws(() => parseIni('key = value\n', 'f.conf'), /option before any \[section\]/);
});

test('includes, .local, %(…)s interpolation and its bounds, [Init] overrides from the jail', () => {
  const dir = tempDir('edgeban-f2b-reader-');
  mkdirSync(join(dir, 'filter.d'));
  writeFileSync(join(dir, 'filter.d', 'base.conf'), '[DEFAULT]\n_daemon = base\n[Definition]\ncommon = x\n');
  writeFileSync(
    join(dir, 'filter.d', 'demo.conf'),
    [
      '[INCLUDES]',
      'before = base.conf',
      '[Definition]',
      'mode = normal',
      'normal = ^normal %(_daemon)s <HOST>$',
      'strict = ^strict <HOST> %(tail)s$',
      'failregex = <%(mode)s>',
      '            <extra>',
      'extra = ^extra <HOST>$',
      'ignoreregex = ^ignore %(known/common)s$',
      '[Init]',
      'tail = t',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'filter.d', 'demo.local'),
    '[DEFAULT]\n_daemon = local\n[Definition]\ncommon = y\n',
  );
  const f = readFilter(dir, 'demo');
  assert.deepEqual(f.failregex, ['^normal local <HOST>$', '^extra <HOST>$']);
  assert.deepEqual(f.ignoreregex, ['^ignore x$'], 'known/ reaches the value the .local overrode');
  const s = readFilter(dir, 'demo[mode=strict, tail="T2"]');
  assert.deepEqual(s.failregex, ['^strict <HOST> T2$', '^extra <HOST>$']);
  assert.deepEqual(parseFilterSpec('sshd[mode=aggressive, publickey="invalid"]'), {
    name: 'sshd',
    opts: { mode: 'aggressive', publickey: 'invalid' },
  });
  writeFileSync(
    join(dir, 'filter.d', 'loop.conf'),
    '[Definition]\na = %(b)s\nb = %(a)s\nfailregex = %(a)s\n',
  );
  assert.throws(
    () => readFilter(dir, 'loop'),
    (e: unknown) =>
      e instanceof Fail2banConfigError && e.code === 'E_FAIL2BAN_CONFIG' && /deeper than 10/.test(e.message),
  );
  writeFileSync(join(dir, 'filter.d', 'tagloop.conf'), '[Definition]\na = <b>\nb = <a>\nfailregex = <a>\n');
  assert.throws(() => readFilter(dir, 'tagloop'), /refers to itself/);
  writeFileSync(join(dir, 'filter.d', 'missing.conf'), '[Definition]\nfailregex = %(nope)s\n');
  assert.throws(() => readFilter(dir, 'missing'), /%\(nope\)s refers to an option that does not exist/);
  assert.throws(() => readFilter(dir, 'absent'), /no filter "absent"/);
  const cfg = new ConfigSet();
  writeFileSync(join(dir, 'self.conf'), '[INCLUDES]\nbefore = self.conf\n[X]\na = 1\n');
  assert.equal(cfg.read(join(dir, 'self.conf')), true, 'a file including itself is read once');
  assert.equal(cfg.get('X', 'a'), '1');
});

test('jails: jail.conf, jail.d/*.conf, jail.local, jail.d/*.local in that order; fail2ban time strings', () => {
  const dir = tempDir('edgeban-f2b-jails-');
  mkdirSync(join(dir, 'jail.d'));
  writeFileSync(
    join(dir, 'jail.conf'),
    '[DEFAULT]\nmaxretry = 5\nfilter = %(__name__)s\n[a]\nbantime = 10m\n[b]\n',
  );
  writeFileSync(join(dir, 'jail.d', '1.conf'), '[a]\nmaxretry = 2\nenabled = true\n');
  writeFileSync(join(dir, 'jail.local'), '[a]\nmaxretry = 3\n[b]\nfindtime = 1h 30m\nenabled = yes\n');
  writeFileSync(join(dir, 'jail.d', '2.local'), '[b]\nmaxretry = 9\n');
  const jails = readJails(dir);
  const a = jails.find((j) => j.name === 'a');
  const b = jails.find((j) => j.name === 'b');
  assert.equal(a?.maxretry, 3);
  assert.equal(a?.bantime, 600);
  assert.equal(a?.filter, 'a');
  assert.equal(b?.maxretry, 9);
  assert.equal(b?.findtime, 5400);
  assert.equal(b?.enabled, true);
  assert.equal(fail2banSeconds('1w 2d'), 9 * 86400);
  assert.equal(fail2banSeconds('-1'), -1);
  assert.throws(() => fail2banSeconds('10 parsecs'), /unknown time unit/);
});
