import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globMatches, JailRouter } from '../../src/main/jails/registry.js';
import { jail } from '../helpers/jails.js';

test('globs match whole names; * any run, ? one character, the rest literally', () => {
  assert.ok(globMatches('sshd-*', 'sshd-invalid-user'));
  assert.ok(globMatches('sshd-*', 'sshd-'));
  assert.equal(globMatches('sshd-*', 'xsshd-auth'), false);
  assert.ok(globMatches('postfix-?asl', 'postfix-sasl'));
  assert.equal(globMatches('a.b', 'axb'), false, 'a dot is a dot');
  assert.ok(globMatches('dovecot', 'dovecot'));
  assert.equal(globMatches('dovecot', 'dovecot-auth'), false);
});

test('routes: first jail by name claims, disabled claims drop, source: bans takes no patterns, the rest is default', () => {
  const r = new JailRouter<string>('default');
  r.setJails(
    [
      { spec: jail('zz', { patterns: ['*'] }), jail: 'zz' },
      { spec: jail('off', { patterns: ['nginx-*'], enabled: false }), jail: 'off' },
      { spec: jail('recidive', { patterns: ['sshd-*'], source: 'bans' }), jail: 'recidive' },
      { spec: jail('mail', { patterns: ['dovecot-*'], weight: 'severity', maxAttempts: 5 }), jail: 'mail' },
    ],
    'default',
  );
  r.setPatterns([
    { name: 'dovecot-auth', severity: 9 },
    { name: 'dovecot-ok', success: true },
  ]);
  assert.deepEqual(r.route('dovecot-auth'), { jail: 'mail', weight: 5, success: false });
  assert.deepEqual(r.route('dovecot-ok'), { jail: 'mail', weight: 1, success: true });
  assert.equal(r.route('nginx-botsearch'), null, 'claimed by a disabled jail: counts nowhere');
  assert.equal(r.route('sshd-auth')?.jail, 'zz', 'recidive claims nothing; zz takes the rest');
  r.setJails([], 'default');
  assert.deepEqual(r.route('sshd-auth'), { jail: 'default', weight: 1, success: false });
});
