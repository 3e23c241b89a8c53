import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type EdgeProcess, sendLines, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

interface Ready {
  status: string;
  checks: Record<string, Record<string, unknown>>;
}

async function getReady(edge: EdgeProcess): Promise<{ status: number; body: Ready; type: string }> {
  const res = await fetch(`http://127.0.0.1:${edge.http}/ready`);
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: (await res.json()) as Ready,
  };
}

/** The `msg` of every pino line in the output (non-JSON lines are kept whole). */
function messages(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return String((JSON.parse(l) as { msg?: unknown }).msg ?? l);
      } catch {
        return l;
      }
    });
}

const stop = async (edge: EdgeProcess | undefined) => {
  if (!edge || edge.proc.exitCode !== null) return;
  edge.proc.kill('SIGTERM');
  await edge.exited;
};

const CONTAINER_HINT = /running in a container, but (.*) trust only loopback/;

describe('a started edgeban: /ready, /health, the start-up log', () => {
  let edge: EdgeProcess;
  let dir: string;
  before(async () => {
    dir = tempDir('edgeban-ready-');
    edge = await startEdge(dir, { FAIL2BAN_ENVOY_ENABLED: 'true', FAIL2BAN_SYSLOG_PROTOCOL: 'both' });
    await edge.waitFor('edgeban started');
  });
  after(() => stop(edge));

  test('/ready is 200 JSON naming each subsystem and its state', async () => {
    const r = await getReady(edge);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.type, /^application\/json/);
    assert.equal(r.body.status, 'ready');
    for (const name of ['spoa', 'envoy', 'http', 'metrics', 'syslog'])
      assert.equal(r.body.checks[name]?.state, 'listening', `${name}: ${JSON.stringify(r.body.checks)}`);
    assert.equal(r.body.checks.syslog.udp_port, edge.syslog);
    assert.equal(r.body.checks.syslog.tcp_port, edge.syslog);
    assert.equal(r.body.checks.database.state, 'up');
    assert.equal(r.body.checks.database.driver, 'sqlite3');
    assert.equal(r.body.checks.database.restored, true);
  });

  test('/ready counts syslog lines as they arrive', async () => {
    const before = (await getReady(edge)).body.checks.syslog.lines as number;
    await sendLines(edge.syslog, ['<38>Nov 30 12:00:00 mail dovecot: nothing to see']);
    let now = before;
    for (let i = 0; i < 80 && now === before; i++) {
      await new Promise((r) => setTimeout(r, 25));
      now = (await getReady(edge)).body.checks.syslog.lines as number;
    }
    assert.equal(now, before + 1);
    const s = (await getReady(edge)).body.checks.syslog;
    assert.equal(typeof s.last_line_seconds_ago, 'number');
  });

  test('/health stays liveness: 200 and not the readiness report', async () => {
    const res = await fetch(`http://127.0.0.1:${edge.http}/health`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.doesNotMatch(text, /"checks"/);
  });

  test('the start-up log has one line per listener with address:port, and the database file', () => {
    const msgs = messages(edge.out());
    const once = (re: RegExp) => {
      const hits = msgs.filter((m) => re.test(m));
      assert.equal(hits.length, 1, `${re}: ${JSON.stringify(hits)}\n${edge.out()}`);
    };
    once(new RegExp(`^SPOA \\(HAProxy agent\\) listening on 127\\.0\\.0\\.1:${edge.spoa}$`));
    once(new RegExp(`^HTTP listening on 127\\.0\\.0\\.1:${edge.http} `));
    once(new RegExp(`^metrics listening on 127\\.0\\.0\\.1:${edge.metrics}/metrics$`));
    once(
      new RegExp(
        `^syslog listening on udp 127\\.0\\.0\\.1:${edge.syslog}, tcp 127\\.0\\.0\\.1:${edge.syslog}$`,
      ),
    );
    once(/^Envoy ext_authz \(gRPC\) listening on 127\.0\.0\.1:\d+$/);
    once(new RegExp(`^database: SQLite ${join(dir, 'fail2ban.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  test('in a container the loopback-only keys are named once, with their env vars', (t) => {
    if (!existsSync('/.dockerenv') && !existsSync('/run/.containerenv')) {
      t.skip('not in a container here (no /.dockerenv): the hint is not expected');
      return;
    }
    const hits = messages(edge.out()).filter((m) => CONTAINER_HINT.test(m));
    assert.equal(hits.length, 1, edge.out());
    for (const k of ['syslog.allowed_sources', 'nginx.trusted_proxies', 'api.allowed_ips'])
      assert.ok(hits[0].includes(k), `${k} in ${hits[0]}`);
    for (const e of ['FAIL2BAN_SYSLOG_ALLOWED_SOURCES', 'FAIL2BAN_NGINX_TRUSTED_PROXIES'])
      assert.ok(hits[0].includes(e), `${e} in ${hits[0]}`);
    // envoy.trust_headers is off by default: its trusted_proxies are not used, so not named
    assert.ok(!hits[0].includes('envoy.trusted_proxies'), hits[0]);
  });
});

describe('the container hint goes once the keys name real networks', () => {
  let edge: EdgeProcess;
  after(() => stop(edge));

  test('no hint when no key trusts only loopback', async (t) => {
    if (!existsSync('/.dockerenv') && !existsSync('/run/.containerenv')) {
      t.skip('not in a container here (no /.dockerenv)');
      return;
    }
    const nets = '127.0.0.0/8,::1/128,172.16.0.0/12';
    edge = await startEdge(tempDir('edgeban-hint-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_SYSLOG_ALLOWED_SOURCES: nets,
      FAIL2BAN_NGINX_TRUSTED_PROXIES: nets,
      FAIL2BAN_API_ALLOWED_IPS: nets,
    });
    await edge.waitFor('edgeban started');
    assert.equal(messages(edge.out()).filter((m) => CONTAINER_HINT.test(m)).length, 0, edge.out());
    // one key left on loopback only: named alone
    await stop(edge);
    edge = await startEdge(tempDir('edgeban-hint-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_SYSLOG_ALLOWED_SOURCES: nets,
      FAIL2BAN_API_ALLOWED_IPS: nets,
    });
    await edge.waitFor('edgeban started');
    const hits = messages(edge.out()).filter((m) => CONTAINER_HINT.test(m));
    assert.equal(hits.length, 1, edge.out());
    assert.equal(CONTAINER_HINT.exec(hits[0])?.[1], 'nginx.trusted_proxies');
  });
});

describe('a SQLite database that cannot be opened at start', () => {
  const cases: [label: string, make: (dir: string) => string, why: RegExp][] = [
    [
      'a folder that does not exist',
      (dir) => join(dir, 'missing', 'fail2ban.db'),
      /the folder .*missing does not exist/,
    ],
    [
      'a folder that is a regular file',
      (dir) => {
        writeFileSync(join(dir, 'plainfile'), 'not a folder\n');
        return join(dir, 'plainfile', 'fail2ban.db');
      },
      /plainfile is not a folder/,
    ],
  ];

  for (const [label, make, why] of cases) {
    test(`in ${label}: fatal, non-zero exit, the path, the uid and the fix`, async () => {
      const dir = tempDir('edgeban-dbfail-');
      const db = make(dir);
      const edge = await startEdge(dir, { FAIL2BAN_DATABASE_DSN: db });
      const code = await Promise.race([
        edge.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
      ]);
      if (code === 'hung') edge.proc.kill('SIGKILL');
      assert.notEqual(code, 'hung', `still running:\n${edge.out()}`);
      assert.notEqual(code, 0, edge.out());
      const out = edge.out();
      assert.ok(out.includes(`cannot open the SQLite database ${db}`), out);
      assert.match(out, why);
      assert.match(out, new RegExp(`uid ${process.getuid?.() ?? ''}`));
      assert.match(out, /Fix: /);
      assert.match(out, /FAIL2BAN_DATABASE_OPTIONAL=true/);
      assert.doesNotMatch(out, /edgeban started/);
    });
  }

  test('with FAIL2BAN_DATABASE_OPTIONAL=true it starts, logs the same text, /ready says degraded', async () => {
    const dir = tempDir('edgeban-dbopt-');
    const db = join(dir, 'missing', 'fail2ban.db');
    const edge = await startEdge(dir, { FAIL2BAN_DATABASE_DSN: db, FAIL2BAN_DATABASE_OPTIONAL: 'true' });
    try {
      await edge.waitFor('edgeban started');
      const out = edge.out();
      assert.ok(out.includes(`cannot open the SQLite database ${db}`), out);
      assert.match(out, /the folder .*missing does not exist/);
      assert.match(out, /database\.optional is true: running with bans in memory only/);
      const r = await getReady(edge);
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'degraded');
      assert.equal(r.body.checks.database.state, 'down');
      // the folder appearing later is picked up by the retries is not promised here; the
      // process serving is: a lookup answers
      assert.equal(r.body.checks.spoa.state, 'listening');
    } finally {
      await stop(edge);
    }
  });

  test('control: a database in a writable folder opens without the hint', async () => {
    const dir = tempDir('edgeban-dbok-');
    mkdirSync(join(dir, 'data'));
    const db = join(dir, 'data', 'fail2ban.db');
    const edge = await startEdge(dir, { FAIL2BAN_DATABASE_DSN: db });
    try {
      await edge.waitFor('edgeban started');
      assert.doesNotMatch(edge.out(), /cannot open the SQLite database/);
      assert.ok(existsSync(db));
    } finally {
      await stop(edge);
    }
  });
});
