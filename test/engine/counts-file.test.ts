import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createCore } from '../../src/main/core.js';
import { loadCounts, saveCounts } from '../../src/main/engine/counts-file.js';
import { parseIp } from '../../src/shared/ip/parse.js';
import { jail } from '../helpers/jails.js';
import { tempDir } from '../helpers/tmp.js';

const MIN = 60_000;

function engineAt(clock: { t: number }) {
  const config = defaultConfig();
  config.jails = [jail('mail', { patterns: ['dovecot-*'], maxAttempts: 3 })];
  return createCore({ config, nodeId: 'n1', now: () => clock.t }).engine;
}

const fail = (e: ReturnType<typeof engineAt>, ip: string, pattern: string, t: number) => {
  const a = parseIp(ip);
  return e.recordFailure(a.bytes, a.family, pattern, t);
};

test('counts survive a save and a load: per jail, IPv4 and IPv6 prefixes, times outside the window dropped', () => {
  const clock = { t: Date.UTC(2026, 11, 2, 10, 0, 0) };
  const file = join(tempDir('edgeban-counts-'), 'counts.json');
  const a = engineAt(clock);
  fail(a, '198.51.100.1', 'dovecot-auth-failed', clock.t - 20 * MIN); // outside mail's 10 min
  fail(a, '198.51.100.1', 'dovecot-auth-failed', clock.t - MIN);
  fail(a, '198.51.100.1', 'dovecot-auth-failed', clock.t);
  fail(a, '2001:db8:1:2::5', 'sshd-failed-password', clock.t); // the default jail, per /64
  assert.equal(saveCounts(a, file, clock.t), 2);
  const b = engineAt(clock);
  assert.equal(loadCounts(b, file, clock.t), 2);
  assert.equal(existsSync(file), false, 'handed back once');
  const st = b.status('198.51.100.1');
  assert.equal(st.jails?.find((j) => j.jail === 'mail')?.failures, 2);
  assert.equal(b.status('2001:db8:1:2::99').failures, 1, 'the /64 counts as one target');
  // the third failure within the window bans, as it would have without the restart
  assert.ok(fail(b, '198.51.100.1', 'dovecot-auth-failed', clock.t + 1000));
});

test('a missing, corrupt or foreign file restores nothing and keeps the engine serving', () => {
  const clock = { t: Date.UTC(2026, 11, 2, 10, 0, 0) };
  const dir = tempDir('edgeban-counts-bad-');
  const e = engineAt(clock);
  assert.equal(loadCounts(e, join(dir, 'none.json'), clock.t), 0);
  const bad = join(dir, 'bad.json');
  writeFileSync(
    bad,
    '{"counts": [["mail", "not an address", [1]], ["nojail", "1.2.3.4", [1]], 7, ["mail", "1.2.3.4", ["x", 1e300]]]}',
  );
  assert.equal(loadCounts(e, bad, clock.t), 0);
  writeFileSync(bad, 'not json');
  assert.equal(loadCounts(e, bad, clock.t), 0);
  assert.equal(fail(e, '1.2.3.4', 'dovecot-auth-failed', clock.t), null);
});
