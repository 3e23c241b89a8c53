import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BanRecord } from '../../src/main/engine/types.js';
import { dialectOf, mysqlConfig, postgresConfig, sqlitePath } from '../../src/main/store/connect.js';
import { WriteJournal } from '../../src/main/store/journal.js';
import { ipGroupIndex, rowOfSpec, toMs, validateBanConfig } from '../../src/main/store/rows.js';
import { canonicalTarget } from '../../src/shared/ip/cidr.js';
import { builtin } from '../../src/shared/patterns/presets/index.js';

describe('DSNs', () => {
  test('drivers by their reference names and the usual aliases; an unknown one is refused', () => {
    assert.equal(dialectOf('sqlite3'), 'sqlite');
    assert.equal(dialectOf('postgres'), 'postgres');
    assert.equal(dialectOf('mysql'), 'mysql');
    assert.throws(
      () => dialectOf('oracle'),
      (e: { code?: string }) => e.code === 'E_DB_CONFIG',
    );
  });

  test('SQLite paths: relative to the working folder, file: and sqlite:// prefixes, :memory:', () => {
    assert.equal(sqlitePath('./fail2ban.db', '/srv/edge'), '/srv/edge/fail2ban.db');
    assert.equal(sqlitePath('file:bans.db?cache=shared', '/srv'), '/srv/bans.db');
    assert.equal(sqlitePath('sqlite:///var/lib/x.db'), '/var/lib/x.db');
    assert.equal(sqlitePath(':memory:'), ':memory:');
  });

  test('PostgreSQL: URL and lib/pq key=value forms', () => {
    assert.deepEqual(postgresConfig('postgres://u:p%40ss@db.example:5433/fail2ban?sslmode=disable'), {
      host: 'db.example',
      port: 5433,
      user: 'u',
      password: 'p@ss',
      database: 'fail2ban',
    });
    const kv = postgresConfig("host=10.0.0.5 port=5432 user=edge password='a b' dbname=bans sslmode=require");
    assert.equal(kv.host, '10.0.0.5');
    assert.equal(kv.password, 'a b');
    assert.equal(kv.database, 'bans');
    assert.deepEqual(kv.ssl, { rejectUnauthorized: false });
  });

  test("MySQL: URL and the Go driver's form the reference documents", () => {
    assert.deepEqual(mysqlConfig('user:password@tcp(localhost:3306)/fail2ban?parseTime=true'), {
      user: 'user',
      password: 'password',
      database: 'fail2ban',
      host: 'localhost',
      port: 3306,
    });
    assert.deepEqual(mysqlConfig('mysql://edge:pw@db:3307/bans'), {
      host: 'db',
      port: 3307,
      user: 'edge',
      password: 'pw',
      database: 'bans',
    });
    assert.equal(mysqlConfig('u@unix(/run/mysqld/mysqld.sock)/db').socketPath, '/run/mysqld/mysqld.sock');
  });
});

describe('rows', () => {
  test('a named capture group becomes its number (the table stores an integer)', () => {
    assert.equal(ipGroupIndex('p', '(a)(?:b)(?<ip>c)', 'ip'), 2);
    assert.equal(ipGroupIndex('p', '(?i)x[(](?P<ip>[0-9.]+)', 'ip'), 1);
    assert.equal(ipGroupIndex('p', '(?<=a)\\((b)(?<host>h)(?<ip>i)', 'ip'), 3);
    assert.throws(
      () => ipGroupIndex('p', '(a)', 'ip'),
      (e: { code?: string }) => e.code === 'E_PATTERN',
    );
    for (const spec of builtin) assert.ok(rowOfSpec(spec).ip_group >= 1, spec.name);
  });

  test('timestamps from every driver: Date, SQLite text (UTC), numbers', () => {
    const t = Date.UTC(2026, 10, 30, 12, 0, 0);
    assert.equal(toMs(new Date(t)), t);
    assert.equal(toMs('2026-11-30 12:00:00'), t);
    assert.equal(toMs('2026-11-30T12:00:00.000Z'), t);
    assert.equal(toMs(String(t)), t);
    assert.equal(toMs(null), null);
  });

  test('list entries are canonical: full-length prefixes are addresses, host bits cleared', () => {
    assert.equal(canonicalTarget('10.0.0.1/32'), '10.0.0.1');
    assert.equal(canonicalTarget('2001:DB8::1'), '2001:db8::1');
    assert.equal(canonicalTarget('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(canonicalTarget('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(canonicalTarget('nope'), null);
  });

  test("ban_config validation follows the reference's rules", () => {
    const ok = {
      name: 'default',
      initial_ban_time_seconds: 300,
      max_ban_time_seconds: 86400,
      escalation_factor: 2,
      max_attempts: 5,
      time_window_seconds: 600,
      cleanup_interval_seconds: 60,
      max_memory_ttl_seconds: 259200,
      enabled: true,
    };
    validateBanConfig(ok);
    for (const bad of [
      { escalation_factor: 1 },
      { max_attempts: 0 },
      { initial_ban_time_seconds: 0 },
      { max_ban_time_seconds: 60 },
      { time_window_seconds: -1 },
    ])
      assert.throws(
        () => validateBanConfig({ ...ok, ...bad }),
        (e: { code?: string }) => e.code === 'E_BAN_CONFIG',
      );
  });
});

describe('write journal', () => {
  const ban = (target: string, expiresAt: number | null): BanRecord => ({
    target,
    kind: 'temp',
    reason: 'r',
    pattern: null,
    createdAt: 0,
    expiresAt,
    createdBy: 'engine',
    offences: 1,
    node: 'n',
  });

  test('changes coalesce per key: the latest one wins', () => {
    const j = new WriteJournal(100);
    j.add({ type: 'ban', record: ban('1.2.3.4', 9e15) });
    j.add({ type: 'unban', target: '1.2.3.4', kind: 'temp', by: 'api', reason: '', at: 0 });
    j.add({ type: 'offence', record: { target: '1.2.3.4', banCount: 1, lastOffence: 0 } });
    j.add({ type: 'offence', record: { target: '1.2.3.4', banCount: 2, lastOffence: 1 } });
    j.add({ type: 'ban', record: { ...ban('10.0.0.0/8', null), kind: 'blacklist' } });
    assert.equal(j.size, 3);
    const b = j.take();
    assert.deepEqual(b.bans.get('1.2.3.4'), { op: 'del', target: '1.2.3.4' });
    const off = b.offences.get('1.2.3.4');
    assert.equal(off?.op === 'put' ? off.record.banCount : null, 2);
    assert.equal(j.size, 0);
    // a failed batch goes back under what arrived meanwhile
    j.add({ type: 'ban', record: ban('1.2.3.4', 9e15) });
    j.putBack(b);
    assert.equal(j.pendingList('blacklist', '10.0.0.0/8')?.op, 'put');
    assert.equal(j.take().bans.get('1.2.3.4')?.op, 'put');
  });

  test('bounded: expired bans go first, then offences, then the oldest bans; list changes stay', () => {
    const j = new WriteJournal(4);
    j.add({ type: 'ban', record: { ...ban('192.0.2.1', null), kind: 'whitelist' } });
    j.add({ type: 'ban', record: ban('1.1.1.1', 1) }); // long expired
    j.add({ type: 'offence', record: { target: '2.2.2.2', banCount: 1, lastOffence: 0 } });
    j.add({ type: 'ban', record: ban('3.3.3.3', 9e15) });
    j.add({ type: 'ban', record: ban('4.4.4.4', 9e15) });
    assert.equal(j.size, 4);
    assert.equal(j.dropped, 1);
    j.add({ type: 'ban', record: ban('5.5.5.5', 9e15) });
    j.add({ type: 'ban', record: ban('6.6.6.6', 9e15) });
    assert.equal(j.dropped, 3);
    const b = j.take();
    assert.deepEqual([...b.bans.keys()], ['4.4.4.4', '5.5.5.5', '6.6.6.6']);
    assert.equal(b.offences.size, 0);
    assert.equal(b.lists.size, 1);
  });
});
