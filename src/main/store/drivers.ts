import { createRequire } from 'node:module';
import type * as Mysql2 from 'mysql2';
import type Pg from 'pg';

const require = createRequire(import.meta.url);

/**
 * The PostgreSQL and MySQL client libraries, loaded the first time a connection needs them: a
 * process on SQLite (the default) never pays for their code (several MB of every idle RSS).
 * Both are CommonJS, so loading stays synchronous.
 */
export function pgModule(): typeof Pg {
  return require('pg') as typeof Pg;
}

export function mysqlModule(): typeof Mysql2 {
  return require('mysql2') as typeof Mysql2;
}
