import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EMPTY_GRPC,
  H2_OPEN,
  h2Check,
  h2CheckHeaders,
  h2data,
  h2frame,
  httpStatus,
  open,
  sleep,
} from '../helpers/abuse.js';
import { dovecotLine, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { HaproxyProcess, privatePaths } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';
import { frame, hello26 } from '../spoa/client.js';

/**
 * A banned client behind a real HAProxy 2.6 (the shipped example config) keeps asking while an
 * availability attack runs against edgeban: every one of its requests must get 403. The example
 * fails open (an agent that does not answer within `timeout processing` lets traffic through),
 * so a single 200 means the attack made the agent unreachable or too slow.
 */

const skip = peerMissing('haproxy');
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');
const TOKEN = 'abuse-test-token';
const BANNED = '127.0.0.2';
const ATTACK_MS = 5000;

/** The shipped example on private ports: only the HTTP frontend, app and agent matter here. */
function exampleConfig(
  dir: string,
  p: Record<'web' | 'app' | 'agent' | 'imap' | 'smtp' | 'mail', number>,
): string {
  const map: Record<string, number> = {
    '8080': p.web,
    '8081': p.app,
    '12345': p.agent,
    '1143': p.imap,
    '1587': p.smtp,
    '143': p.mail,
    '587': p.mail,
  };
  // "not stalled", not "fast": on a shared 2-core box the example's 100 ms can pass by under
  // any load, so the test allows the agent 1 s before HAProxy fails open
  writeFileSync(
    join(dir, 'edgeban-spoe.conf'),
    readFileSync(join(examples, 'edgeban-spoe.conf'), 'utf8').replaceAll(
      'timeout processing 100ms',
      'timeout processing 1s',
    ),
  );
  return privatePaths(readFileSync(join(examples, 'haproxy.cfg'), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', join(dir, 'edgeban-spoe.conf'))
    .replace(/127\.0\.0\.1:(\d+)/g, (m, port: string) => (map[port] ? `127.0.0.1:${map[port]}` : m))
    .replace('dst_port 1587', `dst_port ${p.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
}

/** The banned client asks through HAProxy, one request after the other, until `stop()`. */
function bannedClient(port: number) {
  const statuses: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      statuses.push(await httpStatus(port, '/', 3000, BANNED));
      await sleep(20);
    }
  })();
  return {
    statuses,
    stop: async () => {
      running = false;
      await done;
      return statuses;
    },
  };
}

/** Run `attack` for ATTACK_MS while the banned client asks; its every answer must be 403. */
async function underAttack(
  web: number,
  attack: (until: number) => Promise<void>,
  edge?: EdgeProcess,
  baseline = true,
): Promise<void> {
  // the baseline first: a previous attack may have left HAProxy's agent server DOWN for a moment
  const end = Date.now() + 10_000;
  while (baseline && (await httpStatus(web, '/', 3000, BANNED)) !== 403) {
    assert.ok(Date.now() < end, 'the banned client never got 403 before the attack');
    await sleep(100);
  }
  const client = bannedClient(web);
  await attack(Date.now() + ATTACK_MS);
  const statuses = await client.stop();
  assert.ok(statuses.length >= 10, `only ${statuses.length} requests went through`);
  const other = statuses.filter((s) => s !== 403);
  const errors = (edge?.out() ?? '')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l))
    .slice(-3)
    .join('\n');
  assert.equal(other.length, 0, `not 403: ${JSON.stringify(summary(statuses))}\n${errors}`);
}

function summary(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/** `lanes` loops of `one` until `until`. */
async function lanes(n: number, until: number, one: (lane: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, async (_, lane) => {
      while (Date.now() < until) await one(lane);
    }),
  );
}

/** Write `data` on a fresh connection and close it after `holdMs`. */
function hitAndRun(port: number, data: Buffer, holdMs = 20): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(data);
      setTimeout(() => s.destroy(), holdMs);
    });
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

describe('a banned client behind a real HAProxy stays banned while edgeban is attacked', { skip }, () => {
  let edge: EdgeProcess;
  let hap: HaproxyProcess;
  const ports = { web: 0, app: 0, agent: 0, imap: 0, smtp: 0, mail: 0, envoy: 0 };
  const app = createHttpServer((_req, res) => res.end('app'));

  before(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    edge = await startEdge(tempDir('edgeban-abuse-hap-'), {
      FAIL2BAN_API_TOKENS: TOKEN,
      FAIL2BAN_SYSLOG_PROTOCOL: 'both',
      FAIL2BAN_ENVOY_ENABLED: 'true',
      FAIL2BAN_ENVOY_PORT: String(ports.envoy),
    });
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    ports.agent = edge.spoa;
    const res = await fetch(`http://127.0.0.1:${edge.http}/api/ban`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ ip_address: BANNED, permanent: true, reason: 'abuse test' }),
    });
    assert.equal(res.status, 200, await res.text());
    hap = await startHaproxy();
    assert.equal(await httpStatus(ports.web, '/', 3000, BANNED), 403);
    assert.equal(await httpStatus(ports.web, '/', 3000, '127.0.0.1'), 200);
  });

  async function startHaproxy(): Promise<HaproxyProcess> {
    const dir = tempDir('edgeban-abuse-hapcfg-');
    const h = await HaproxyProcess.start(
      {
        'haproxy.cfg': exampleConfig(dir, ports),
        'edgeban-spoe.conf': readFileSync(join(dir, 'edgeban-spoe.conf'), 'utf8'),
      },
      [ports.web],
    );
    await h.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
    return h;
  }

  after(async () => {
    await hap?.stop();
    edge?.proc.kill('SIGKILL');
    app.close();
  });

  test('SPOA slot exhaustion: idle connections that sent a HELLO and stay silent, then HAProxy restarts', {
    timeout: 40_000,
  }, async () => {
    const idle: Socket[] = [];
    const grab = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const s = await open(edge.spoa).catch(() => null);
        if (!s) continue;
        s.on('error', () => {});
        s.on('data', () => {});
        s.write(hello26());
        idle.push(s);
      }
    };
    try {
      // past spoa.max_clients_per_source from HAProxy's own source: idle peers must be evicted for it
      await grab(300);
      // a warm HAProxy keeps its open agent connections; a restarted (or reloaded) one needs new ones
      // (the attacker takes the slots the old one leaves before the new one connects)
      await hap.stop();
      await sleep(200);
      await grab(20);
      hap = await HaproxyProcess.start(
        {
          'haproxy.cfg': exampleConfig(tempDir('edgeban-abuse-hapcfg-'), ports),
          'edgeban-spoe.conf': readFileSync(join(examples, 'edgeban-spoe.conf'), 'utf8'),
        },
        [ports.web],
      );
      // no baseline: the attack is already on when the new HAProxy connects
      await underAttack(ports.web, (until) => sleep(Math.max(0, until - Date.now())), edge, false);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  test('Envoy port: partial and reset gRPC messages on many HTTP/2 sessions', {
    timeout: 25_000,
  }, async () => {
    const RST = (id: number) => h2frame(3, 0, id, Buffer.from([0, 0, 0, 8]));
    const partial = Buffer.from([0, 0, 0, 0, 50, 1, 2]);
    const variants = [
      Buffer.concat([H2_OPEN, h2CheckHeaders(1), h2data(1, partial, true)]),
      Buffer.concat([H2_OPEN, h2CheckHeaders(1), h2data(1, partial, false), RST(1)]),
      Buffer.concat([
        H2_OPEN,
        h2CheckHeaders(1),
        h2data(1, Buffer.from([0, 0]), false),
        h2data(1, EMPTY_GRPC, true),
      ]),
      Buffer.concat([H2_OPEN, h2Check(1), RST(1)]),
      Buffer.concat([H2_OPEN, h2CheckHeaders(1, true)]),
      Buffer.concat([H2_OPEN, h2CheckHeaders(1), h2data(1, partial, false)]),
    ];
    await underAttack(
      ports.web,
      (until) =>
        lanes(8, until, async (lane) => {
          await hitAndRun(ports.envoy, variants[(lane + Date.now()) % variants.length]);
        }),
      edge,
    );
    assert.equal(edge.proc.exitCode, null, edge.out().slice(-2000));
  });

  test('syslog: a flood of failures from distinct addresses', { timeout: 25_000 }, async () => {
    let n = 0;
    await underAttack(ports.web, (until) =>
      lanes(2, until, async () => {
        const lines: string[] = [];
        for (let i = 0; i < 2000; i++) {
          n++;
          lines.push(`${dovecotLine(`10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`)}\n`);
        }
        await new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: edge.syslog }, () => s.end(lines.join('')));
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        });
      }),
    );
  });

  test('HTTP API: credential guessing (wrong bearer tokens and Basic passwords)', {
    timeout: 25_000,
  }, async () => {
    let n = 0;
    await underAttack(ports.web, (until) =>
      lanes(16, until, async () => {
        n++;
        const authorization =
          n % 2 ? `Bearer guess-${n}` : `Basic ${Buffer.from(`admin:guess-${n}`).toString('base64')}`;
        try {
          const r = await fetch(`http://127.0.0.1:${edge.http}/api/stats`, { headers: { authorization } });
          await r.arrayBuffer();
        } catch {
          // refused or reset: the attacker does not care
        }
      }),
    );
  });

  test('SPOA: a log flood of bad frames on many connections', { timeout: 25_000 }, async () => {
    const bad = [
      frame(99, 1, [0], [0], Buffer.from([1, 2, 3])), // unknown frame type before HELLO
      Buffer.from([0xff, 0xff, 0xff, 0xff, 1]), // frame larger than max-frame-size
      frame(3, 1, [1], [1], Buffer.from([0xff])), // NOTIFY before HELLO
    ];
    let i = 0;
    await underAttack(ports.web, (until) =>
      lanes(8, until, async () => {
        await hitAndRun(edge.spoa, bad[i++ % bad.length], 5);
      }),
    );
  });
});
