import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { bare, hello26, ipv4, notify, RawPeer } from '../spoa/client.js';

/** Bans in the database: enough that the restore takes many chunks and event-loop turns. */
const BANS = 40_000;
const AGENT_HELLO = 101;
const ACK = 103;

const banned = (i: number) => `10.${i >>> 16}.${(i >>> 8) & 255}.${i & 255}`;

/** Creates the schema with one run of edgeban, then writes the bans straight into the file. */
async function databaseWithBans(dir: string): Promise<void> {
  const edge = await startEdge(dir);
  await edge.waitFor('"msg":"edgeban started"', 20_000);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0, edge.out());
  const db = new Database(join(dir, 'fail2ban.db'));
  const now = Date.now();
  const put = db.prepare(
    'INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let i = 0; i < BANS; i++)
      put.run(
        banned(i),
        'temp',
        'start-up test',
        'dovecot-auth-failed',
        now,
        now + 3_600_000,
        'engine',
        'x',
        1,
      );
  })();
  db.prepare('INSERT INTO blacklist (ip_address, reason, created_by, enabled) VALUES (?, ?, ?, 1)').run(
    '203.0.113.0/24',
    'start-up test',
    'test',
  );
  db.close();
}

/** Connects the moment the port accepts: refused connections are retried every 2 ms. */
async function earliestPeer(edge: EdgeProcess): Promise<RawPeer> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      return await RawPeer.open(edge.spoa);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
      if (Date.now() > end || edge.proc.exitCode !== null)
        throw new Error(`SPOA never accepted:\n${edge.out()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

test('the first connection to the SPOA port gets its HELLO answered and every database ban answered banned', async () => {
  const dir = tempDir('edgeban-spoa-first-');
  await databaseWithBans(dir);
  const edge = await startEdge(dir);
  try {
    const peer = await earliestPeer(edge);
    // first, middle and last rows, a blacklisted range, and two addresses banned nowhere
    const asks: [ip: string, want: number][] = [
      [banned(0), 1],
      [banned(BANS >>> 1), 1],
      [banned(BANS - 1), 1],
      ...Array.from({ length: 20 }, (_, k): [string, number] => [banned(Math.floor((k * BANS) / 20) + 7), 1]),
      ['203.0.113.77', 1],
      ['192.0.2.1', 0],
      [banned(BANS), 0],
    ];
    peer.send(hello26());
    asks.forEach(([ip], k) => {
      peer.send(notify(1, k + 1, [['check-client-ip', [['src', ipv4(ip)]]]]));
    });
    const frames = await peer.waitFrames(1 + asks.length, 20_000);
    peer.close();
    assert.equal(frames[0].type, AGENT_HELLO, `first frame: ${frames[0].raw.toString('hex')}`);
    assert.ok(frames[0].payload.includes(bare('version')), 'AGENT-HELLO names its version');
    const answers = new Map<number, number>();
    for (const f of frames.slice(1)) {
      assert.equal(f.type, ACK, `frame ${f.raw.toString('hex')}`);
      answers.set(f.idBytes[1], f.payload[f.payload.length - 1]);
    }
    const wrong = asks.filter(([, want], k) => answers.get(k + 1) !== want).map(([ip]) => ip);
    assert.deepEqual(wrong, [], `answered wrongly on the first connection:\n${edge.out()}`);
    // and the log agrees: the listener line comes after the restore
    await edge.waitFor('SPOA (HAProxy agent) listening', 5_000);
    const out = edge.out();
    assert.match(out, new RegExp(`"bans":${BANS},`));
    assert.ok(out.indexOf('persisted bans restored') < out.indexOf('SPOA (HAProxy agent) listening'), out);
  } finally {
    edge.proc.kill('SIGTERM');
    await edge.exited;
  }
});
