/**
 * The SQLite connection's own thread: better-sqlite3 is synchronous, so it runs here and the main
 * thread (which answers the proxies' lookups) never waits on disk. One connection, WAL journal.
 * Messages in: `SqliteRequest`; out: `SqliteResponse` (see sqlite-dialect.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { toColumns } from './sqlite-columns.js';
import type { ColumnarResult, SqliteRequest, SqliteResponse, SqliteWorkerData } from './sqlite-dialect.js';

const port = parentPort!;
const data = workerData as SqliteWorkerData;

/** Bound values: booleans as 1/0 and dates as SQLite's CURRENT_TIMESTAMP text (UTC). */
function bind(params: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (typeof v === 'boolean') out[i] = v ? 1 : 0;
    else if (v instanceof Date) out[i] = v.toISOString().slice(0, 19).replace('T', ' ');
    else out[i] = v;
  }
  return out;
}

function post(msg: SqliteResponse, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

/** Rows of a SELECT as columns (see Column), a row at a time. */
function columnar(
  stmt: Database.Statement,
  params: unknown[],
): { result: ColumnarResult; transfer: ArrayBuffer[] } {
  const names = stmt.columns().map((c) => c.name);
  try {
    return toColumns(names, stmt.raw(true).iterate(params) as IterableIterator<unknown[]>);
  } finally {
    stmt.raw(false);
  }
}

function fail(id: number, err: unknown): void {
  const e = err as { message?: string; code?: string };
  post({ id, error: { message: e.message ?? String(err), code: e.code ?? 'SQLITE_ERROR' } });
}

let db: Database.Database;
try {
  db = new Database(data.path, { timeout: data.busyTimeoutMs });
  if (data.path !== ':memory:') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  post({ id: 0, ready: true });
} catch (err) {
  fail(0, err);
  process.exit(0);
}

const statements = new Map<string, Database.Statement>();
function prepare(sql: string): Database.Statement {
  let s = statements.get(sql);
  if (s === undefined) {
    // bulk writes build many shapes of statement; keep the cache bounded
    if (statements.size >= 256) statements.clear();
    s = db.prepare(sql);
    statements.set(sql, s);
  }
  return s;
}

const streams = new Map<number, IterableIterator<unknown>>();

port.on('message', (m: SqliteRequest) => {
  try {
    switch (m.op) {
      case 'query': {
        const stmt = prepare(m.sql);
        const params = bind(m.params);
        if (stmt.reader) {
          post({ id: m.id, rows: stmt.all(params) });
        } else {
          const r = stmt.run(params);
          post({ id: m.id, rows: [], changes: Number(r.changes), insertId: Number(r.lastInsertRowid) });
        }
        return;
      }
      case 'stream': {
        let it = streams.get(m.streamId);
        if (it === undefined) {
          // a streamed statement must not share the cached one (it stays busy while iterating)
          it = db.prepare(m.sql).iterate(bind(m.params));
          streams.set(m.streamId, it);
        }
        const rows: unknown[] = [];
        let done = false;
        while (rows.length < m.chunkSize) {
          const n = it.next();
          if (n.done) {
            done = true;
            break;
          }
          rows.push(n.value);
        }
        if (done) streams.delete(m.streamId);
        post({ id: m.id, rows, done });
        return;
      }
      case 'columns': {
        // its own statement: raw mode must not leak into the cached one
        const { result, transfer } = columnar(db.prepare(m.sql), bind(m.params));
        post({ id: m.id, columnar: result }, transfer);
        return;
      }
      case 'streamEnd': {
        streams.get(m.streamId)?.return?.();
        streams.delete(m.streamId);
        post({ id: m.id, rows: [] });
        return;
      }
      case 'close': {
        for (const it of streams.values()) it.return?.();
        streams.clear();
        db.close();
        post({ id: m.id, rows: [] });
        port.close();
        return;
      }
    }
  } catch (err) {
    if (m.op === 'stream') streams.delete(m.streamId);
    fail(m.id, err);
  }
});
