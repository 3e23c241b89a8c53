import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type TransactionSettings,
} from 'kysely';

/** What the SQLite thread is started with. */
export interface SqliteWorkerData {
  path: string;
  busyTimeoutMs: number;
}

export type SqliteRequest =
  | { op: 'query'; id: number; sql: string; params: readonly unknown[] }
  | { op: 'stream'; id: number; streamId: number; sql: string; params: readonly unknown[]; chunkSize: number }
  | { op: 'streamEnd'; id: number; streamId: number }
  | { op: 'columns'; id: number; sql: string; params: readonly unknown[] }
  | { op: 'close'; id: number };

/**
 * One column of a columnar result: numbers (null as NaN) in a transferable Float64Array; text
 * either as is or, when few values repeat a lot (reasons, pattern names, node names), as a
 * dictionary and indexes, so the receiving thread deserialises each distinct string once.
 */
export type Column =
  | { kind: 'number'; values: Float64Array }
  | { kind: 'text'; values: (string | null)[] }
  | { kind: 'dict'; dict: (string | null)[]; index: Uint32Array };

export interface ColumnarResult {
  length: number;
  columns: Record<string, Column>;
}

/** A connection for bulk column reads only (WorkerSqliteDialect.openReader). */
export interface BulkReader {
  columns(q: CompiledQuery): Promise<ColumnarResult>;
  close(): Promise<void>;
}

/** Value `i` of a column. */
export function cell(c: Column, i: number): string | number | null {
  if (c.kind === 'number') {
    const v = c.values[i];
    return Number.isNaN(v) ? null : v;
  }
  if (c.kind === 'text') return c.values[i];
  return c.dict[c.index[i]];
}

export interface SqliteResponse {
  id: number;
  ready?: boolean;
  rows?: unknown[];
  changes?: number;
  insertId?: number;
  done?: boolean;
  columnar?: ColumnarResult;
  error?: { message: string; code: string };
}

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);

/** An error from SQLite, with its code (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY`, …). */
export class SqliteWorkerError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
    this.name = 'SqliteWorkerError';
  }
}

/**
 * Kysely dialect for better-sqlite3 running in its own worker thread: Kysely's SQLite compiler,
 * adapter and introspector, with a driver that ships each compiled query to the thread. A bulk
 * write costs the main thread a postMessage, not the disk time.
 */
export class WorkerSqliteDialect implements Dialect {
  private driver: WorkerSqliteDriver | null = null;
  constructor(private readonly config: SqliteWorkerData) {}
  createDriver(): Driver {
    this.driver = new WorkerSqliteDriver(this.config);
    return this.driver;
  }
  /**
   * Runs a compiled (Kysely-built) SELECT and returns its rows column by column: the bulk path
   * of the start-up restore, where a million row objects crossing threads would cost seconds.
   */
  async columns(q: CompiledQuery): Promise<ColumnarResult> {
    if (!this.driver) throw new SqliteWorkerError('SQLite driver not initialised', 'SQLITE_GONE');
    return this.driver.columns(q);
  }
  /**
   * A second connection on a thread of its own, for one bulk read beside the main connection's
   * (the restore reads offences there while bans come through the first): closed by the caller,
   * so its thread and heap are gone once the read is done.
   */
  async openReader(): Promise<BulkReader> {
    const d = new WorkerSqliteDriver(this.config);
    try {
      await d.init();
    } catch (err) {
      await d.destroy();
      throw err;
    }
    return { columns: (q) => d.columns(q), close: () => d.destroy() };
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

class WorkerSqliteDriver implements Driver {
  private worker: Worker | null = null;
  private readonly pending = new Map<
    number,
    { resolve: (r: SqliteResponse) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private nextStream = 1;
  private lock: Promise<void> | null = null;
  private unlock: (() => void) | null = null;
  private readonly connection: WorkerSqliteConnection;
  private dead: Error | null = null;

  constructor(private readonly config: SqliteWorkerData) {
    this.connection = new WorkerSqliteConnection(this);
  }

  async init(): Promise<void> {
    const worker = new Worker(WORKER_URL, {
      workerData: this.config,
      // the thread only turns rows into messages: a small young generation is enough, and V8
      // never gives back what a default one (up to 32 MB) grew to during a restore
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: SqliteResponse) => {
        if (m.id !== 0) return;
        worker.off('message', onMessage);
        if (m.ready) resolve();
        else
          reject(
            new SqliteWorkerError(m.error?.message ?? 'cannot open', m.error?.code ?? 'SQLITE_CANTOPEN'),
          );
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    worker.on('message', (m: SqliteResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error) p.reject(new SqliteWorkerError(m.error.message, m.error.code));
      else p.resolve(m);
    });
    const die = (err: Error) => {
      this.dead = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new SqliteWorkerError(`SQLite thread exited (${code})`, 'SQLITE_GONE')));
    worker.unref();
  }

  send(msg: SqliteRequest): Promise<SqliteResponse> {
    if (this.dead) return Promise.reject(this.dead);
    const w = this.worker;
    if (!w) return Promise.reject(new SqliteWorkerError('SQLite thread not started', 'SQLITE_GONE'));
    return this.sendTo(w, msg);
  }

  id(): number {
    return this.nextId++;
  }

  streamId(): number {
    return this.nextStream++;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // one connection: wait until the holder releases it
    while (this.lock) await this.lock;
    this.lock = new Promise((r) => {
      this.unlock = r;
    });
    return this.connection;
  }

  async columns(q: CompiledQuery): Promise<ColumnarResult> {
    await this.acquireConnection();
    try {
      const r = await this.send({ op: 'columns', id: this.id(), sql: q.sql, params: q.parameters });
      return r.columnar ?? { length: 0, columns: {} };
    } finally {
      await this.releaseConnection();
    }
  }

  async beginTransaction(conn: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin'));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    const u = this.unlock;
    this.lock = null;
    this.unlock = null;
    u?.();
  }

  async destroy(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    if (!this.dead) {
      try {
        await this.sendTo(w, { op: 'close', id: this.id() });
      } catch {
        // already gone
      }
    }
    await w.terminate();
  }

  /** The thread keeps the process alive only while a query is in flight. */
  private sendTo(w: Worker, msg: SqliteRequest): Promise<SqliteResponse> {
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) w.ref();
      this.pending.set(msg.id, { resolve, reject });
      w.postMessage(msg);
    });
  }
}

class WorkerSqliteConnection implements DatabaseConnection {
  constructor(private readonly driver: WorkerSqliteDriver) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const r = await this.driver.send({ op: 'query', id: this.driver.id(), sql: q.sql, params: q.parameters });
    return {
      rows: (r.rows ?? []) as R[],
      numAffectedRows: r.changes !== undefined ? BigInt(r.changes) : undefined,
      insertId: r.insertId !== undefined ? BigInt(r.insertId) : undefined,
    };
  }

  async *streamQuery<R>(q: CompiledQuery, chunkSize = 10_000): AsyncIterableIterator<QueryResult<R>> {
    const streamId = this.driver.streamId();
    let done = false;
    try {
      while (!done) {
        const r = await this.driver.send({
          op: 'stream',
          id: this.driver.id(),
          streamId,
          sql: q.sql,
          params: q.parameters,
          chunkSize,
        });
        done = r.done === true;
        if (r.rows && r.rows.length > 0) yield { rows: r.rows as R[] };
      }
    } finally {
      if (!done) await this.driver.send({ op: 'streamEnd', id: this.driver.id(), streamId }).catch(() => {});
    }
  }
}
