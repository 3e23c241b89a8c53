import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, type MigrationResultSet, Migrator, SqliteDialect } from 'kysely';
import { migrations, SCHEMA_LOCK_TABLE, SCHEMA_VERSION_TABLE } from '../../src/main/store/migrations.js';
import { tempDir } from '../helpers/tmp.js';
import { makeEngine, makeStore } from './harness.js';

const HOUR = 3_600_000;

test('a database from before jails (SQLite, bans keyed by address) upgrades: its bans are the default jail, unscoped', async () => {
  const file = join(tempDir('edgeban-jails-upgrade'), 'old.db');
  const now = Date.now();
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(file) }) });
  const all = migrations('sqlite');
  const old = new Migrator({
    db,
    provider: {
      getMigrations: async () => ({
        '0001_reference_schema': all['0001_reference_schema'],
        '0002_bans_offences': all['0002_bans_offences'],
      }),
    },
    migrationTableName: SCHEMA_VERSION_TABLE,
    migrationLockTableName: SCHEMA_LOCK_TABLE,
  });
  const r = (await old.migrateToLatest()) as MigrationResultSet;
  assert.equal(r.error, undefined);
  const raw = new Database(file);
  raw
    .prepare(
      `insert into bans (ip_address, kind, reason, pattern, created_at_ms, expires_at_ms, created_by, node, ban_count)
       values ('198.51.100.60', 'temp', 'old ban', 'dovecot', ?, ?, 'engine', 'n0', 2)`,
    )
    .run(now, now + HOUR);
  raw.close();
  await db.destroy();

  const s = makeStore('sqlite', file);
  const e = makeEngine(now + 1000);
  await s.store.start();
  const check = new Database(file);
  const rows = check.prepare('select ip_address, jail, services from bans').all() as Record<
    string,
    unknown
  >[];
  assert.deepEqual(rows, [{ ip_address: '198.51.100.60', jail: 'default', services: null }]);
  const pk = check.prepare("select name from pragma_table_info('bans') where pk > 0 order by pk").all();
  assert.deepEqual(
    pk.map((p) => (p as { name: string }).name),
    ['ip_address', 'jail'],
  );
  check.close();
  const state = await s.store.loadState(now + 1000);
  e.engine.restore(state.bans, state.offences);
  const item = e.engine.list('temp', {}).items[0];
  assert.equal(item.jail, 'default');
  assert.deepEqual(item.services, []);
  assert.equal(item.expiresAt, now + HOUR);
  assert.ok(e.banned('198.51.100.60'));
  await s.store.stop();
});
