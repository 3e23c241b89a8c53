import {
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationResultSet,
  Migrator,
  sql,
} from 'kysely';
import type { DialectName } from './connect.js';

/** Applied migrations are recorded here (one row per migration, by name). */
export const SCHEMA_VERSION_TABLE = 'edgeban_schema_version';
export const SCHEMA_LOCK_TABLE = 'edgeban_schema_lock';

type AnyDb = Kysely<unknown>;
type Table = CreateTableBuilder<string, string>;

/** `id` as each dialect spells an auto-increment primary key (as the reference schema has it). */
function withId(t: Table, dialect: DialectName): Table {
  return dialect === 'postgres'
    ? t.addColumn('id', 'serial', (c) => c.primaryKey())
    : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

const now = sql`CURRENT_TIMESTAMP`;

function timestamps(t: Table, dialect: DialectName): Table {
  return t
    .addColumn('created_at', 'timestamp', (c) => c.defaultTo(now))
    .addColumn('updated_at', 'timestamp', (c): ColumnDefinitionBuilder => {
      const d = c.defaultTo(now);
      // MySQL maintains it itself (the reference declares it so); edgeban sets it elsewhere
      return dialect === 'mysql' ? d.modifyEnd(sql`on update CURRENT_TIMESTAMP`) : d;
    });
}

async function indexExists(db: AnyDb, dialect: DialectName, table: string, name: string): Promise<boolean> {
  if (dialect !== 'mysql') return false; // the others have IF NOT EXISTS
  const r = await sql<{ n: number | string }>`select count(*) as n from information_schema.statistics
    where table_schema = database() and table_name = ${table} and index_name = ${name}`.execute(db);
  return Number(r.rows[0]?.n ?? 0) > 0;
}

/** CREATE INDEX IF NOT EXISTS, which MySQL lacks (the reference's index creation failed there). */
async function ensureIndex(
  db: AnyDb,
  dialect: DialectName,
  name: string,
  table: string,
  column: string,
): Promise<void> {
  if (await indexExists(db, dialect, table, name)) return;
  let b = db.schema.createIndex(name).on(table).column(column);
  if (dialect !== 'mysql') b = b.ifNotExists();
  await b.execute();
}

/**
 * Migration 1: the reference system's schema exactly, created only where it is
 * missing, so a database the reference system made is adopted as it is.
 */
function referenceSchema(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await timestamps(
        withId(db.schema.createTable('patterns').ifNotExists(), dialect)
          .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
          .addColumn('regex', 'text', (c) => c.notNull())
          .addColumn('ip_group', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('severity', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('description', 'text')
          .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true)),
        dialect,
      ).execute();
      await timestamps(
        withId(db.schema.createTable('ban_config').ifNotExists(), dialect)
          .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
          .addColumn('initial_ban_time_seconds', 'integer', (c) => c.notNull())
          .addColumn('max_ban_time_seconds', 'integer', (c) => c.notNull())
          .addColumn('escalation_factor', dialect === 'sqlite' ? 'real' : 'decimal(10, 6)', (c) =>
            c.notNull(),
          )
          .addColumn('max_attempts', 'integer', (c) => c.notNull())
          .addColumn('time_window_seconds', 'integer', (c) => c.notNull())
          .addColumn('cleanup_interval_seconds', 'integer', (c) => c.notNull())
          .addColumn('max_memory_ttl_seconds', 'integer', (c) => c.notNull())
          .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true)),
        dialect,
      ).execute();
      for (const list of ['blacklist', 'whitelist']) {
        await withId(db.schema.createTable(list).ifNotExists(), dialect)
          .addColumn('ip_address', 'varchar(45)', (c) => c.notNull().unique())
          .addColumn('reason', 'text')
          .addColumn('created_at', 'timestamp', (c) => c.defaultTo(now))
          .addColumn('created_by', 'varchar(255)', (c) => c.defaultTo('system'))
          .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
          .execute();
      }
      await ensureIndex(db, dialect, 'idx_patterns_enabled', 'patterns', 'enabled');
      await ensureIndex(db, dialect, 'idx_ban_config_enabled', 'ban_config', 'enabled');
      await ensureIndex(db, dialect, 'idx_patterns_name', 'patterns', 'name');
      await ensureIndex(db, dialect, 'idx_ban_config_name', 'ban_config', 'name');
      await ensureIndex(db, dialect, 'idx_blacklist_ip', 'blacklist', 'ip_address');
      await ensureIndex(db, dialect, 'idx_blacklist_enabled', 'blacklist', 'enabled');
      await ensureIndex(db, dialect, 'idx_whitelist_ip', 'whitelist', 'ip_address');
      await ensureIndex(db, dialect, 'idx_whitelist_enabled', 'whitelist', 'enabled');
    },
  };
}

/** Migration 2: edgeban's tables (active bans, offence memory) and `patterns.raw`. */
function bansAndOffences(dialect: DialectName): Migration {
  // keyed by target: a clustered table on SQLite (no rowid indirection)
  const clustered = (t: Table): Table => (dialect === 'sqlite' ? t.modifyEnd(sql`without rowid`) : t);
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('patterns')
        .addColumn('raw', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
      await clustered(
        db.schema
          .createTable('bans')
          .addColumn('ip_address', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('pattern', 'varchar(255)')
          .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
          .addColumn('expires_at_ms', 'bigint')
          .addColumn('created_by', 'varchar(255)', (c) => c.notNull())
          .addColumn('node', 'varchar(255)', (c) => c.notNull())
          .addColumn('ban_count', 'integer', (c) => c.notNull().defaultTo(1)),
      ).execute();
      await ensureIndex(db, dialect, 'idx_bans_expires', 'bans', 'expires_at_ms');
      await clustered(
        db.schema
          .createTable('offences')
          .addColumn('ip_address', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('ban_count', 'integer', (c) => c.notNull())
          .addColumn('last_offence_ms', 'bigint', (c) => c.notNull()),
      ).execute();
    },
  };
}

/**
 * Migration 3: `jails` (per-service policies; a null number means "the ban: value") and
 * `patterns.success` (a successful login line: its jail resets the count). A database without
 * jail rows behaves as before: every pattern in the `default` jail, the ban_config policy.
 */
function jails(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('patterns')
        .addColumn('success', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
      await timestamps(
        withId(db.schema.createTable('jails'), dialect)
          .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
          // JSON arrays of strings (TEXT: MySQL gives TEXT columns no default, edgeban always writes them)
          .addColumn('patterns', 'text', (c) => c.notNull())
          .addColumn('max_attempts', 'integer')
          .addColumn('time_window_seconds', 'integer')
          .addColumn('initial_ban_time_seconds', 'integer')
          .addColumn('max_ban_time_seconds', 'integer')
          .addColumn('escalation_factor', dialect === 'sqlite' ? 'real' : 'decimal(10, 6)')
          .addColumn('services', 'text', (c) => c.notNull())
          .addColumn('weight', 'varchar(16)', (c) => c.notNull().defaultTo('one'))
          .addColumn('source', 'varchar(16)', (c) => c.notNull().defaultTo('logs'))
          .addColumn('source_jails', 'text', (c) => c.notNull())
          .addColumn('mode', 'varchar(16)', (c) => c.notNull().defaultTo('enforce'))
          // {"prefix":24,"addresses":5,"window":3600} (window in seconds, null: time_window), or null
          .addColumn('subnet', 'text')
          .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true)),
        dialect,
      ).execute();
      await ensureIndex(db, dialect, 'idx_jails_enabled', 'jails', 'enabled');
    },
  };
}

/** Migration 5: ended bans, kept for `database.history_retention`. */
function banHistory(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await withId(db.schema.createTable('ban_history'), dialect)
        .addColumn('ip_address', 'varchar(64)', (c) => c.notNull())
        .addColumn('range_start', 'varchar(40)', (c) => c.notNull())
        .addColumn('range_end', 'varchar(40)', (c) => c.notNull())
        .addColumn('jail', 'varchar(255)', (c) => c.notNull().defaultTo('default'))
        .addColumn('services', 'text')
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('pattern', 'varchar(255)')
        .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('node', 'varchar(255)', (c) => c.notNull())
        .addColumn('ban_count', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('expires_at_ms', 'bigint')
        .addColumn('ended_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('end_reason', 'varchar(16)', (c) => c.notNull())
        .addColumn('ended_by', 'varchar(255)', (c) => c.notNull())
        .execute();
      // the retention purge and the newest-first pages
      await ensureIndex(db, dialect, 'idx_ban_history_ended', 'ban_history', 'ended_at_ms');
      // address and CIDR filters
      await ensureIndex(db, dialect, 'idx_ban_history_range', 'ban_history', 'range_start');
    },
  };
}

/**
 * Migration 4: a ban per (target, jail). `bans` gains `jail` (the jail that made it; `default`
 * for every row from before) and `services` (comma-separated; null = every service), and its key
 * becomes (ip_address, jail). SQLite cannot change a WITHOUT ROWID table's key: it is rebuilt.
 */
function bansByJail(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      if (dialect === 'sqlite') {
        await sql`create table bans_by_jail (
          ip_address varchar(64) not null,
          jail varchar(64) not null default 'default',
          kind varchar(16) not null,
          reason text not null,
          pattern varchar(255),
          created_at_ms bigint not null,
          expires_at_ms bigint,
          created_by varchar(255) not null,
          node varchar(255) not null,
          ban_count integer not null default 1,
          services text,
          primary key (ip_address, jail)
        ) without rowid`.execute(db);
        await sql`insert into bans_by_jail (ip_address, jail, kind, reason, pattern, created_at_ms,
          expires_at_ms, created_by, node, ban_count, services)
          select ip_address, 'default', kind, reason, pattern, created_at_ms, expires_at_ms,
          created_by, node, ban_count, null from bans`.execute(db);
        await sql`drop table bans`.execute(db);
        await sql`alter table bans_by_jail rename to bans`.execute(db);
        await ensureIndex(db, dialect, 'idx_bans_expires', 'bans', 'expires_at_ms');
        return;
      }
      if (dialect === 'postgres') {
        await sql`alter table bans add column jail varchar(64) not null default 'default'`.execute(db);
        await sql`alter table bans add column services text`.execute(db);
        await sql`alter table bans drop constraint bans_pkey`.execute(db);
        await sql`alter table bans add primary key (ip_address, jail)`.execute(db);
        return;
      }
      await sql`alter table bans add column jail varchar(64) not null default 'default',
        add column services text, drop primary key, add primary key (ip_address, jail)`.execute(db);
    },
  };
}

/**
 * Migration 6: `patterns.backtracking`: a regex that needs the backtracking engine (lookaround,
 * backreferences: imported fail2ban filters) keeps that mark in the database, so a database
 * seeded from such a config runs them (under the matcher's time budget) instead of refusing them.
 */
function patternBacktracking(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('patterns')
        .addColumn('backtracking', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  };
}

/**
 * Migration 7: `patterns.ignoreregex`: fail2ban's ignoreregex of an imported filter, a JSON list
 * of regexes; a line the pattern matches that one of them also matches does not count.
 */
function patternIgnoreregex(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('patterns').addColumn('ignoreregex', 'text').execute();
    },
  };
}

/**
 * Migration 8: `patterns.datepattern`: fail2ban's datepattern of an imported filter, a JSON list
 * of date templates cut out of a line without a syslog header before the regex runs.
 */
function patternDatepattern(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('patterns').addColumn('datepattern', 'text').execute();
    },
  };
}

export function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_reference_schema': referenceSchema(dialect),
    '0002_bans_offences': bansAndOffences(dialect),
    '0003_jails': jails(dialect),
    '0004_bans_by_jail': bansByJail(dialect),
    '0005_ban_history': banHistory(dialect),
    '0006_pattern_backtracking': patternBacktracking(),
    '0007_pattern_ignoreregex': patternIgnoreregex(),
    '0008_pattern_datepattern': patternDatepattern(),
  };
}

/**
 * Brings the schema up to date (Kysely's migrator: one transaction per run where the dialect has
 * transactional DDL, and a lock so two nodes of a fleet starting together do not race).
 * Throws with the failing migration's error.
 */
export async function migrate(db: Kysely<unknown>, dialect: DialectName): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(dialect) },
    migrationTableName: SCHEMA_VERSION_TABLE,
    migrationLockTableName: SCHEMA_LOCK_TABLE,
    // the migrations touch different tables: one that landed after a later-numbered one (a
    // database made between the two) is still applied
    allowUnorderedMigrations: true,
  });
  const { error, results } = (await migrator.migrateToLatest()) as MigrationResultSet;
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
