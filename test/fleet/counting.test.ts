import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dovecotLine, type EdgeProcess, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { PostgresCluster, postgresMissing } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../store/harness.js';

/**
 * Fleet-wide counting with two `edgeban serve` nodes on one PostgreSQL database: failures of one
 * address logged on both add up to the threshold (5), and both ban it, as HAProxy asks either.
 * With counting off, each node counts alone and neither bans.
 */

async function metric(e: EdgeProcess, re: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${e.metrics}/metrics`)).text();
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

const received = /edgeban_fleet_count_aggregates_total\{direction="received"\} (\d+)/;
const sent = /edgeban_fleet_count_aggregates_total\{direction="sent"\} (\d+)/;

describe('fleet-wide counting', { skip: postgresMissing() }, () => {
  let pg: PostgresCluster;
  let cwd: string;
  const nodes: EdgeProcess[] = [];

  /** Two nodes on a database of their own; `counting` as FAIL2BAN_FLEET_COUNTING. */
  async function pair(db: string, counting: boolean): Promise<[EdgeProcess, EdgeProcess]> {
    const dsn = await pg.createDatabase(db);
    const env = (node: string) => ({
      FAIL2BAN_WORKERS_COUNT: '1',
      FAIL2BAN_DATABASE_DRIVER: 'postgres',
      FAIL2BAN_DATABASE_DSN: dsn,
      FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms',
      FAIL2BAN_FLEET_NODE: node,
      FAIL2BAN_FLEET_SECRET: 'shared by the fleet',
      FAIL2BAN_FLEET_COUNTING: String(counting),
      FAIL2BAN_FLEET_COUNTING_INTERVAL: '100ms',
      FAIL2BAN_BAN_MAX_ATTEMPTS: '5',
    });
    const out: EdgeProcess[] = [];
    for (const name of [`${db}-a`, `${db}-b`]) {
      const e = await startEdge(mkdtempSync(join(cwd, `${name}-`)), env(name));
      nodes.push(e);
      await e.waitFor('fleet channel listened to', 20_000);
      await e.waitFor('"msg":"edgeban started"', 20_000);
      out.push(e);
    }
    return [out[0], out[1]];
  }

  before(async () => {
    pg = await PostgresCluster.create();
    cwd = tempDir('edgeban-counting-');
  });
  after(async () => {
    for (const e of nodes) {
      e.proc.kill('SIGTERM');
      await e.exited;
    }
    await pg?.destroy();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('3 failures on node A and 2 on node B reach a 5-attempt threshold: both nodes ban', async () => {
    const [a, b] = await pair('counting_on', true);
    const ip = '198.51.100.41';
    await sendLines(
      a.syslog,
      Array.from({ length: 3 }, () => dovecotLine(ip)),
    );
    await until(async () => (await metric(b, received)) >= 1, 10_000, "node a's sum reached node b");
    assert.equal(await spopBanned(a.spoa, ip), 0, 'three failures: not yet');
    assert.equal(await spopBanned(b.spoa, ip), 0);
    await sendLines(
      b.syslog,
      Array.from({ length: 2 }, () => dovecotLine(ip)),
    );
    await until(async () => (await spopBanned(b.spoa, ip)) === 1, 10_000, 'banned on node b');
    await until(async () => (await spopBanned(a.spoa, ip)) === 1, 10_000, 'banned on node a');
    assert.ok((await metric(a, sent)) >= 1);
  });

  test('without fleet counting the same failures ban on neither node', async () => {
    const [a, b] = await pair('counting_off', false);
    const ip = '198.51.100.42';
    await sendLines(
      a.syslog,
      Array.from({ length: 3 }, () => dovecotLine(ip)),
    );
    await sendLines(
      b.syslog,
      Array.from({ length: 2 }, () => dovecotLine(ip)),
    );
    // every line matched where it was sent, and no sum went out
    const matches = /fail2ban_pattern_matches_total\{[^}]*\} (\d+)/;
    await until(async () => (await metric(a, matches)) === 3, 10_000, 'three matches on node a');
    await until(async () => (await metric(b, matches)) === 2, 10_000, 'two matches on node b');
    // more than the counting interval: a sum would have arrived by now
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await spopBanned(a.spoa, ip), 0);
    assert.equal(await spopBanned(b.spoa, ip), 0);
    assert.equal(await metric(a, sent), 0);
    assert.equal(await metric(b, received), 0);
    // the count was there all along: two more failures on node A make its own five
    await sendLines(
      a.syslog,
      Array.from({ length: 2 }, () => dovecotLine(ip)),
    );
    await until(async () => (await spopBanned(a.spoa, ip)) === 1, 10_000, 'node a bans on its own five');
  });
});
