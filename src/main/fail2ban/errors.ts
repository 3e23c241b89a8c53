import { EdgebanError } from '../../shared/errors.js';

/** A fail2ban file that cannot be read as fail2ban would (`E_FAIL2BAN_CONFIG`). */
export class Fail2banConfigError extends EdgebanError {
  readonly file: string;
  constructor(file: string, message: string) {
    super('E_FAIL2BAN_CONFIG', `${file}: ${message}`);
    this.file = file;
  }
}

/** A filter or jail that names something the tree does not have (`E_FAIL2BAN_NOT_FOUND`). */
export class Fail2banNotFoundError extends EdgebanError {
  constructor(message: string) {
    super('E_FAIL2BAN_NOT_FOUND', message);
  }
}
