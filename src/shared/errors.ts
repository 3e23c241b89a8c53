import { type ErrorCode, statusOf } from './error-codes.js';

/**
 * Base of every error edgeban raises on purpose. `code` is stable (operators grep for it, tests
 * assert it) and listed in error-codes.ts with its HTTP status; the message says what was wrong
 * in words.
 */
export class EdgebanError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** The HTTP status of this error's code (a getter: not copied into log lines). */
  get statusCode(): number {
    return statusOf(this.code);
  }
}

/** An address or CIDR that does not parse (`E_INVALID_IP`). */
export class InvalidAddressError extends EdgebanError {
  readonly input: string;
  constructor(input: string, why: string) {
    super('E_INVALID_IP', `invalid IP address ${JSON.stringify(input)}: ${why}`);
    this.input = input;
  }
}
