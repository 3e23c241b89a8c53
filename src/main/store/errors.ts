import { EdgebanError } from '../../shared/errors.js';

/** The database is disabled (`database.enabled: false`): nothing can be stored (`E_DB_DISABLED`). */
export class StoreDisabledError extends EdgebanError {
  constructor(what: string) {
    super('E_DB_DISABLED', `${what} needs the database, and database.enabled is false`);
  }
}

/** The database cannot be reached right now (`E_DB_UNAVAILABLE`); edgeban keeps serving and retries. */
export class StoreUnavailableError extends EdgebanError {
  constructor(what: string, cause?: unknown) {
    const why = cause instanceof Error ? cause.message : cause ? String(cause) : 'not connected';
    super('E_DB_UNAVAILABLE', `${what}: database unavailable (${why})`, { cause });
  }
}

/** A pattern name that is already taken (`E_DUPLICATE`). */
export class DuplicatePatternError extends EdgebanError {
  constructor(name: string) {
    super('E_DUPLICATE', `pattern ${JSON.stringify(name)} already exists`);
  }
}

/** A change that would leave no enabled pattern, so nothing could ever be banned (`E_LAST_PATTERN`). */
export class LastPatternError extends EdgebanError {
  constructor(name: string) {
    super('E_LAST_PATTERN', `pattern ${JSON.stringify(name)} is the last enabled one: keep at least one`);
  }
}
