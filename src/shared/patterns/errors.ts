import { EdgebanError } from '../errors.js';

/** A pattern that cannot be used (`E_PATTERN`); the message starts with the pattern's name. */
export class PatternError extends EdgebanError {
  readonly pattern: string;
  constructor(pattern: string, why: string) {
    super('E_PATTERN', `pattern ${JSON.stringify(pattern)}: ${why}`);
    this.pattern = pattern;
  }
}
