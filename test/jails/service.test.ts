import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { createJailBansService } from '../../src/main/jails/service.js';
import { DAY, engineOnClock, jail, settle } from './harness.js';

test('the jails subsystem takes up the jails the engine is given, recidive and subnet alike', async () => {
  const e = engineOnClock();
  const ctx = {
    config: defaultConfig(),
    configPath: null,
    log: pino({ level: 'silent' }),
    metrics: e.metrics,
  };
  const s = createJailBansService(ctx, e.engine);
  await s.start();
  const ip = '198.51.100.60';
  const banThrice = async () => {
    for (let n = 0; n < 3; n++) {
      let ban = null;
      for (let i = 0; i < 3 && !ban; i++) ban = e.fail(ip);
      assert.ok(ban);
      e.advance((ban.expiresAt ?? 0) - e.now() + 1000);
    }
    await settle();
  };
  // no recidive jail yet: nothing follows the bans
  await banThrice();
  assert.equal(s.recidive.size(), 0);
  e.engine.setJails([
    jail({ name: 'recidive', source: 'bans', timeWindow: DAY, initialBanTime: 7 * DAY, maxBanTime: 7 * DAY }),
    jail({ name: 'default', subnet: { prefixV4: 24, addresses: 2, window: DAY } }),
  ]);
  await banThrice();
  assert.equal(e.banned(ip), true, 'recidive banned it past its last log ban');
  const reasons = e.events.flatMap((x) => (x.type === 'ban' ? [x.record.reason] : []));
  assert.ok(reasons.includes('recidive: 3 bans in 24h'), reasons.join(', '));
  // a second address of the /24 banned by the default jail: the prefix goes
  for (let i = 0; i < 3; i++) e.fail('198.51.100.61');
  await settle();
  assert.equal(e.banned('198.51.100.200'), true);
  await s.stop();
});
