import { EdgebanError } from '../../shared/errors.js';
import type { JailProblem } from './fields.js';

/** A jail whose keys fail validation (`E_JAIL`, 400); names the field at fault. */
export class JailInvalidError extends EdgebanError {
  readonly field: string;
  constructor(name: string, problems: readonly JailProblem[]) {
    const first = problems[0];
    super(
      'E_JAIL',
      `jail ${JSON.stringify(name)}: ${problems
        .map((p) => `${p.field || '(body)'}: expected ${p.expected}, found ${p.found}`)
        .join('; ')}`,
    );
    this.field = first?.field ?? '';
  }
}

/** A jail name the database has already (`E_JAIL_DUPLICATE`, 409). */
export class JailExistsError extends EdgebanError {
  constructor(name: string) {
    super('E_JAIL_DUPLICATE', `jail ${JSON.stringify(name)} already exists`);
  }
}

/** A jail of the config file or the default jail: read-only through the API (`E_JAIL_CONFIG_OWNED`, 409). */
export class JailConfigOwnedError extends EdgebanError {
  constructor(name: string, origin: 'config' | 'default') {
    super(
      'E_JAIL_CONFIG_OWNED',
      origin === 'default'
        ? `jail ${JSON.stringify(name)} is the ban: policy: change it with PUT /api/ban-config`
        : `jail ${JSON.stringify(name)} is defined in the config file: change it there (and reload)`,
    );
  }
}
