import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCore } from '../../src/main/core.js';
import { PrefixTooShortError } from '../../src/main/engine/index.js';

function setup() {
  const { engine, isBanned } = createCore({ nodeId: 'n1' });
  return { engine, banned: isBanned };
}

describe('prefix floor', () => {
  for (const target of ['0.0.0.0/0', '::/0', '10.0.0.0/7', '2001:db8::/31']) {
    test(`${target} is refused for ban, blacklist and whitelist without force`, () => {
      const { engine, banned } = setup();
      const refused = (fn: () => unknown) =>
        assert.throws(
          fn,
          (e: unknown) => e instanceof PrefixTooShortError && e.code === 'E_PREFIX_TOO_SHORT',
        );
      refused(() => engine.ban(target, {}));
      refused(() => engine.ban(target, { permanent: true }));
      refused(() => engine.blacklistAdd(target, {}));
      refused(() => engine.whitelistAdd(target, {}));
      assert.equal(banned('8.8.8.8'), false);
      assert.equal(engine.list('temp', {}).total + engine.list('blacklist', {}).total, 0);
      assert.equal(engine.list('whitelist', {}).total, 0);
    });
  }

  test('the floor itself is accepted, and force takes anything', () => {
    const { engine, banned } = setup();
    engine.ban('10.0.0.0/8', { durationMs: 60_000 });
    engine.ban('2001:db8::/32', { durationMs: 60_000 });
    assert.equal(banned('10.1.2.3'), true);
    engine.ban('0.0.0.0/0', { durationMs: 60_000, force: true });
    assert.equal(banned('8.8.8.8'), true);
  });

  test('the message names the floor; the error carries it', () => {
    const { engine } = setup();
    try {
      engine.whitelistAdd('0.0.0.0/0', {});
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof PrefixTooShortError);
      assert.equal(e.minPrefix, 8);
      assert.equal(e.prefixLen, 0);
      assert.match(e.message, /\/8/);
    }
  });

  test('config-file entries wider than the floor are applied (with a warning)', () => {
    const { engine, banned } = setup();
    engine.replaceLists('config', [
      {
        target: '0.0.0.0/1',
        kind: 'blacklist',
        reason: 'config',
        pattern: null,
        createdAt: 0,
        expiresAt: null,
        createdBy: 'config',
        offences: 0,
        node: 'n1',
      },
    ]);
    assert.equal(banned('8.8.8.8'), true);
  });

  test('a forced whitelist of everything hides every ban; removing it restores them', () => {
    const { engine, banned } = setup();
    engine.ban('192.0.2.1', { durationMs: 3_600_000 });
    engine.ban('2001:db8::/64', { durationMs: 3_600_000 });
    engine.whitelistAdd('0.0.0.0/0', { force: true });
    engine.whitelistAdd('::/0', { force: true });
    assert.equal(banned('192.0.2.1'), false);
    assert.equal(banned('2001:db8::5'), false);
    assert.equal(engine.list('temp', {}).total, 0);
    engine.whitelistRemove('0.0.0.0/0', {});
    engine.whitelistRemove('::/0', {});
    assert.equal(banned('192.0.2.1'), true);
    assert.equal(banned('2001:db8::5'), true);
    assert.equal(engine.list('temp', {}).total, 2);
  });
});
