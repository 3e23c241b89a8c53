/**
 * Base of every error edgeban raises on purpose. `code` is stable (operators grep for it, tests
 * assert it); the message says what was wrong in words.
 */
export class EdgebanError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
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
