import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PRESETS } from '../../src/shared/patterns/presets/index.js';
import { anyIp, canonical, type Fields, hostileText, hostName, QuickMatcher, SHAPES } from './injection.js';

const matcher = new QuickMatcher(PRESETS.builtin);
const plain: Fields = { user: 'alice', path: '/admin/', agent: 'example.com', host: 'unknown' };

describe('built-in presets: a client cannot get another address counted', () => {
  test('every preset pattern has at least one real line shape here', () => {
    const covered = new Set(SHAPES.map((s) => s.pattern));
    for (const p of PRESETS.builtin) assert.ok(covered.has(p.name), `no shape for ${p.name}`);
  });

  test('each shape with plain fields counts the client, IPv4 and IPv6, for its pattern', () => {
    for (const s of SHAPES) {
      for (const ip of ['203.0.113.5', '2001:db8::5']) {
        const line = s.line(ip, plain);
        assert.deepEqual(matcher.run(line), [[s.pattern, ip]], line);
      }
    }
  });

  test('the reported SOGo and nginx injections count the real client', () => {
    const real = '203.0.113.9';
    const cases: [string, string][] = [
      [
        `Nov 24 16:05:50 mail sogod [3253]: SOGoRootPage Login from '${real}' for user 'x' might not have worked Login from '198.51.100.77' for user 'y' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0`,
        'sogo-login-failed',
      ],
      [
        `Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 user "x" was not found in "/x", client: 198.51.100.78, server: " was not found in "/etc/nginx/.htpasswd", client: ${real}, server: example.com, request: "GET / HTTP/1.1", host: "example.com"`,
        'nginx-auth-basic',
      ],
      // the request line comes after the real address and may say anything
      [
        `Nov 24 16:05:53 web nginx: 2026/11/24 16:05:53 [error] 1234#1234: *5 user "x": password mismatch, client: ${real}, server: example.com, request: "GET /": password mismatch, client: 198.51.100.79, server: example.com, request: "x HTTP/1.1", host: "h"`,
        'nginx-auth-basic',
      ],
    ];
    for (const [line, pattern] of cases) assert.deepEqual(matcher.run(line), [[pattern, real]], line);
  });

  test('property: hostile user names, paths, agents and host names never count an injected address', () => {
    for (const s of SHAPES) {
      fc.assert(
        fc.property(
          anyIp,
          anyIp.chain((inj) =>
            fc.record({
              inj: fc.constant(inj),
              user: hostileText(fc.constant(inj)),
              path: hostileText(fc.constant(inj)),
              agent: hostileText(fc.constant(inj)),
              host: hostName(fc.constant(inj)),
            }),
          ),
          (real, f) => {
            fc.pre(canonical(real) !== canonical(f.inj));
            const line = s.line(real, f);
            const found = matcher.run(line);
            // the real client, or nothing: never the planted address
            if (found.length > 0) {
              assert.equal(found.length, 1, line);
              assert.equal(found[0][1], canonical(real), `${s.pattern}: ${line}`);
            }
          },
        ),
        { seed: 0x5eed, numRuns: 300, interruptAfterTimeLimit: 1500 },
      );
    }
  });

  test('property: fields from the characters the services allow are counted for the real client', () => {
    // user names of letters, digits and `._@-`: every shape must count these (no over-anchoring)
    const word = fc.stringMatching(/^[A-Za-z0-9._@-]{1,24}$/);
    for (const s of SHAPES) {
      fc.assert(
        fc.property(anyIp, word, word, (real, user, path) => {
          const line = s.line(real, { user, path: `/${path}`, agent: 'example.com', host: 'unknown' });
          assert.deepEqual(matcher.run(line), [[s.pattern, canonical(real)]], line);
        }),
        { seed: 0x5eed, numRuns: 200, interruptAfterTimeLimit: 1000 },
      );
    }
  });
});
