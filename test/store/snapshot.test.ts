import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { STATE_SNAPSHOT_FILE } from '../../src/main/store/state-snapshot.js';
import { api, dovecotLine, type EdgeProcess, sendLines, spopBanned, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from './harness.js';

/**
 * A stop writes the ban state beside the SQLite file; the next start puts it in force before it
 * reads the database, and the database then has the last word: what was lifted or added in SQL
 * while edgeban was down is lifted or added once the restore is done.
 */

interface BanView {
  banned: boolean;
  expires_at: string | null;
  offences: number;
}

const ENV = { FAIL2BAN_WORKERS_COUNT: '1', FAIL2BAN_DATABASE_FLUSH_INTERVAL: '200ms' };

async function stop(edge: EdgeProcess): Promise<void> {
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
}

describe('the ban state snapshot across a restart', () => {
  let cwd: string;
  before(() => {
    cwd = tempDir('edgeban-snapshot-');
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  test('a stop writes it; the start enforces it, then the database lifts and adds what changed in SQL', async () => {
    const dir = mkdtempSync(join(cwd, 'restart-'));
    const dbFile = join(dir, 'fail2ban.db');
    const snap = join(dir, STATE_SNAPSHOT_FILE);
    const inDb = (ip: string) => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT 1 FROM bans WHERE ip_address = ?').get(ip) !== undefined;
      } finally {
        db.close();
      }
    };
    let edge = await startEdge(dir, ENV);
    try {
      await edge.waitFor('persisted bans restored', 20_000);
      for (const ip of ['192.0.2.10', '192.0.2.11', '192.0.2.12'])
        await api(edge, '/api/ban', { ip_address: ip, duration: '2h', reason: 'snapshot test' });
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('198.51.100.44')),
      );
      await until(() => inDb('198.51.100.44'), 10_000, 'log-made ban written');
      const was: Record<string, BanView> = {};
      for (const ip of ['192.0.2.10', '192.0.2.12', '198.51.100.44'])
        was[ip] = await api<BanView>(edge, `/api/bans/${ip}`);
      await stop(edge);
      assert.ok(existsSync(snap), 'the stop wrote the snapshot beside the database');
      assert.match(edge.out(), /"msg":"ban state snapshot written for the next start"/);

      // while it is down: one ban lifted and one added in plain SQL
      const db = new Database(dbFile);
      db.prepare('DELETE FROM bans WHERE ip_address = ?').run('192.0.2.11');
      const cols = (db.prepare('PRAGMA table_info(bans)').all() as { name: string }[])
        .map((c) => c.name)
        .filter((c) => c !== 'id');
      const rest = cols.filter((c) => c !== 'ip_address');
      db.prepare(
        `INSERT INTO bans (ip_address, ${rest.join(', ')}) SELECT ?, ${rest.join(', ')} FROM bans WHERE ip_address = ?`,
      ).run('192.0.2.99', '192.0.2.10');
      db.close();

      edge = await startEdge(dir, ENV);
      await edge.waitFor('persisted bans in force from the last stop', 20_000);
      assert.ok(!existsSync(snap), 'read once: a crash later on restores from the database');
      await edge.waitFor('persisted bans restored', 20_000);
      assert.match(edge.out(), /"snapshot_dropped":\{"bans":1,"offences":\d+\}/);
      // changed in SQL: the SPOA waited for the database's restore, as without a snapshot
      assert.match(edge.out(), /"database_unchanged":false/);
      // the SPOA's line follows the restore's by a few milliseconds: wait for it, then compare
      await edge.waitFor('"msg":"spoa started"', 20_000);
      assert.ok(
        edge.out().indexOf('persisted bans restored') < edge.out().indexOf('"msg":"spoa started"'),
        `the SPOA opened after the restore:\n${edge.out().slice(-4000)}`,
      );
      assert.match(edge.out(), /"bans":4,"offences":\d+,"ms"/);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.11'), 0, 'lifted in SQL while down');
      assert.equal(await spopBanned(edge.spoa, '192.0.2.99'), 1, 'added in SQL while down');
      for (const [ip, v] of Object.entries(was)) {
        const now = await api<BanView>(edge, `/api/bans/${ip}`);
        assert.equal(now.banned, true, `${ip} banned after the restart`);
        assert.equal(now.expires_at, v.expires_at, `${ip} keeps its expiry to the millisecond`);
        assert.equal(now.offences, v.offences);
        assert.equal(await spopBanned(edge.spoa, ip), 1);
      }
    } finally {
      if (edge.proc.exitCode === null) await stop(edge);
    }
  });

  test('an unchanged database is known as such: the SPOA need not wait for its restore', async () => {
    const dir = mkdtempSync(join(cwd, 'unchanged-'));
    let edge = await startEdge(dir, ENV);
    try {
      await edge.waitFor('persisted bans restored', 20_000);
      await api(edge, '/api/ban', { ip_address: '192.0.2.40', duration: '2h' });
      await sendLines(
        edge.syslog,
        Array.from({ length: 5 }, () => dovecotLine('198.51.100.40')),
      );
      await edge.waitFor(/"ip":"198\.51\.100\.40"[^\n]*"msg":"IP banned"/);
      await stop(edge);
      assert.match(edge.out(), /"database_digest":true/);
      edge = await startEdge(dir, ENV);
      await edge.waitFor('persisted bans restored', 20_000);
      assert.match(edge.out(), /"database_unchanged":true/);
      assert.match(edge.out(), /"snapshot_dropped":\{"bans":0,"offences":0\}/);
      assert.equal(await spopBanned(edge.spoa, '192.0.2.40'), 1);
      assert.equal(await spopBanned(edge.spoa, '198.51.100.40'), 1);
    } finally {
      if (edge.proc.exitCode === null) await stop(edge);
    }
  });

  test('a corrupt snapshot is reported, removed, and the database restores everything', async () => {
    const dir = mkdtempSync(join(cwd, 'corrupt-'));
    let edge = await startEdge(dir, ENV);
    try {
      await edge.waitFor('persisted bans restored', 20_000);
      await api(edge, '/api/ban', { ip_address: '192.0.2.20', duration: '2h' });
      await stop(edge);
      const snap = join(dir, STATE_SNAPSHOT_FILE);
      writeFileSync(snap, Buffer.concat([Buffer.from('EBS1'), Buffer.alloc(64, 0xff)]));
      edge = await startEdge(dir, ENV);
      await edge.waitFor('persisted bans restored', 20_000);
      assert.match(edge.out(), /"msg":"ban state snapshot unusable; restoring from the database"/);
      assert.match(edge.out(), /"code":"E_SNAPSHOT"/);
      assert.doesNotMatch(edge.out(), /in force from the last stop/);
      assert.ok(!existsSync(snap));
      assert.equal(await spopBanned(edge.spoa, '192.0.2.20'), 1);
    } finally {
      if (edge.proc.exitCode === null) await stop(edge);
    }
  });

  test('a FIFO at the snapshot path neither hangs the start nor is removed; the database restores', async () => {
    const dir = mkdtempSync(join(cwd, 'fifo-'));
    let edge = await startEdge(dir, ENV);
    try {
      await edge.waitFor('persisted bans restored', 20_000);
      await api(edge, '/api/ban', { ip_address: '192.0.2.50', duration: '2h' });
      await stop(edge);
      const snap = join(dir, STATE_SNAPSHOT_FILE);
      rmSync(snap);
      execFileSync('mkfifo', [snap]);
      edge = await startEdge(dir, ENV);
      await edge.waitFor('persisted bans restored', 20_000);
      assert.match(
        edge.out(),
        /"reason":"not a regular file"[^\n]*"msg":"ban state snapshot not read; restoring from the database"/,
      );
      assert.doesNotMatch(edge.out(), /in force from the last stop/);
      assert.ok(existsSync(snap));
      assert.equal(await spopBanned(edge.spoa, '192.0.2.50'), 1);
    } finally {
      if (edge.proc.exitCode === null) await stop(edge);
    }
  });

  test('database.snapshot: false writes none', async () => {
    const dir = mkdtempSync(join(cwd, 'off-'));
    const edge = await startEdge(dir, { ...ENV, FAIL2BAN_DATABASE_SNAPSHOT: 'false' });
    await edge.waitFor('persisted bans restored', 20_000);
    await api(edge, '/api/ban', { ip_address: '192.0.2.30', duration: '2h' });
    await stop(edge);
    assert.ok(!existsSync(join(dir, STATE_SNAPSHOT_FILE)));
  });
});
