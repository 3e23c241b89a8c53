import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, dovecotLine, type EdgeProcess, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { PostgresCluster, postgresMissing } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../store/harness.js';

/**
 * Two edgeban processes on one PostgreSQL database: what one bans, HAProxy asking the other
 * (over SPOP) sees banned; what one lifts, the other lifts.
 */

describe('a fleet of two edgeban nodes', { skip: postgresMissing() }, () => {
  let pg: PostgresCluster;
  let cwd: string;
  let a: EdgeProcess;
  let b: EdgeProcess;

  before(async () => {
    pg = await PostgresCluster.create();
    cwd = tempDir('edgeban-fleet-');
    const dsn = await pg.createDatabase('fleet');
    const env = (node: string) => ({
      FAIL2BAN_WORKERS_COUNT: '1',
      FAIL2BAN_DATABASE_DRIVER: 'postgres',
      FAIL2BAN_DATABASE_DSN: dsn,
      FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms',
      FAIL2BAN_FLEET_NODE: node,
      FAIL2BAN_FLEET_SECRET: 'shared by the fleet',
    });
    a = await startEdge(mkdtempSync(join(cwd, 'a-')), env('edge-a'));
    await a.waitFor('fleet channel listened to', 20_000);
    // the SPOA port opens last, once the persisted bans are in
    await a.waitFor('"msg":"edgeban started"', 20_000);
    b = await startEdge(mkdtempSync(join(cwd, 'b-')), env('edge-b'));
    await b.waitFor('fleet channel listened to', 20_000);
    await b.waitFor('"msg":"edgeban started"', 20_000);
  });
  after(async () => {
    for (const e of [a, b]) {
      e?.proc.kill('SIGTERM');
      await e?.exited;
    }
    await pg?.destroy();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('failures logged on one node get the address banned on the other, as HAProxy asks it', async () => {
    const ip = '198.51.100.23';
    assert.equal(await spopBanned(b.spoa, ip), 0);
    await sendLines(
      a.syslog,
      Array.from({ length: 5 }, () => dovecotLine(ip)),
    );
    await until(async () => (await spopBanned(b.spoa, ip)) === 1, 10_000, 'banned on node b');
    await b.waitFor('"msg":"ban from the fleet applied"');
    const status = await api<{ banned: boolean }>(b, `/api/bans/${ip}`);
    assert.equal(status.banned, true);
    // written once, by the node that made it (its batched write may land after b applied it)
    const nodes = async () =>
      (await pg.query<{ node: string }>('fleet', 'SELECT node FROM bans WHERE ip_address = $1', [ip])).map(
        (r) => r.node,
      );
    await until(async () => (await nodes()).length > 0, 5_000, 'ban row written');
    assert.deepEqual(await nodes(), ['edge-a']);
  });

  test("an unban through one node's API lifts the ban on the other", async () => {
    const ip = '203.0.113.77';
    await api(b, '/api/ban', { ip_address: ip, duration: '1h', reason: 'seen elsewhere' });
    await until(async () => (await spopBanned(a.spoa, ip)) === 1, 10_000, 'banned on node a');
    await api(a, '/api/unban', { ip_address: ip });
    await until(async () => (await spopBanned(b.spoa, ip)) === 0, 10_000, 'lifted on node b');
    const metrics = await (await fetch(`http://127.0.0.1:${a.metrics}/metrics`)).text();
    assert.match(metrics, /edgeban_fleet_events_total\{direction="received",type="ban"\} [1-9]/);
    assert.match(metrics, /edgeban_fleet_events_total\{direction="sent",type="unban"\} [1-9]/);
    assert.match(metrics, /edgeban_fleet_connected 1/);
  });
});
