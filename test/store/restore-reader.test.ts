import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type Connection, openDatabase } from '../../src/main/store/connect.js';
import type { Link } from '../../src/main/store/link.js';
import { readState } from '../../src/main/store/restore-reader.js';
import type { BulkReader } from '../../src/main/store/sqlite-dialect.js';
import { tempDir } from '../helpers/tmp.js';
import { makeStore, memoryLogger } from './harness.js';

const BANS = 30_000;
const OFFENCES = 40_000;
const dir = tempDir('edgeban-restore-reader-');
const dsn = join(dir, 'state.db');
const now = Date.now();

/** A connection as the store holds it: opened (its first query starts the thread). */
async function connected(): Promise<Connection> {
  const conn = openDatabase('sqlite3', dsn);
  await conn.db.selectFrom('bans').select('ip_address').limit(1).execute();
  return conn;
}

/** What readState needs of a Link, over one connection. */
function linkOver(conn: Connection): Link {
  return {
    current: conn,
    isConnected: true,
    dialect: 'sqlite',
    op: () => {},
    fail: () => {},
  } as unknown as Link;
}

describe('the restore reads offences on a second SQLite connection', () => {
  before(async () => {
    // the schema as the store makes it, then rows past one page (25,000) of each table
    const { store } = makeStore('sqlite3', dsn);
    await store.start();
    await store.stop();
    const db = new Database(dsn);
    const ban = db.prepare(
      "INSERT INTO bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node) VALUES (?, 'temp', 'r', 'p', ?, ?, 'engine', 'n')",
    );
    const off = db.prepare('INSERT INTO offences (ip_address, ban_count, last_offence_ms) VALUES (?, 2, ?)');
    db.transaction(() => {
      for (let i = 0; i < BANS; i++)
        ban.run(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, now, now + 3_600_000);
      for (let i = 0; i < OFFENCES; i++) off.run(`10.9.${(i >> 8) & 255}.${i & 255}-${i >> 16}`, now);
    })();
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every row of both tables arrives, the first page with their totals; the second connection opens once and is closed after', async () => {
    const conn = await connected();
    const open = conn.openReader;
    assert.ok(open, 'SQLite connections offer a second reader');
    const events: string[] = [];
    let reads = 0;
    conn.openReader = async () => {
      events.push('open');
      const r = await open();
      return {
        columns: (q) => {
          reads++;
          return r.columns(q);
        },
        close: async () => {
          events.push('close');
          await r.close();
        },
      } satisfies BulkReader;
    };
    const { log } = memoryLogger();
    let bans = 0;
    let offences = 0;
    const totals: unknown[] = [];
    const counts = await readState(linkOver(conn), log, now, (p) => {
      assert.deepEqual(events, ['open'], 'pages arrive while the reader is open');
      totals.push(p.totals);
      bans += p.bans.length;
      offences += p.offences.length;
    });
    assert.deepEqual(counts, { bans: BANS, offences: OFFENCES });
    assert.equal(bans, BANS);
    assert.equal(offences, OFFENCES);
    assert.deepEqual(events, ['open', 'close']);
    // the first page says what the whole read brings (the engine sizes for it once)
    assert.deepEqual(totals, [{ bans: BANS, offences: OFFENCES }, undefined]);
    // the count, then offences: one full page and the rest
    assert.equal(reads, 3);
    await conn.close();
  });

  test('when the second connection does not open, the first reads both tables, and the log says so', async () => {
    const conn = await connected();
    conn.openReader = () => Promise.reject(new Error('no thread for you'));
    const { log, lines } = memoryLogger();
    const counts = await readState(linkOver(conn), log, now, () => {});
    assert.deepEqual(counts, { bans: BANS, offences: OFFENCES });
    const warned = lines.filter((l) => String(l.msg).includes('second SQLite connection'));
    assert.equal(warned.length, 1);
    await conn.close();
  });
});
