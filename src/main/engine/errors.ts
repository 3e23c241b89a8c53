import { EdgebanError } from '../../shared/errors.js';

/**
 * A ban or list entry wider than `ban.min_prefix_v4` / `ban.min_prefix_v6` without `force`
 * (`E_PREFIX_TOO_SHORT`): one slip would ban, or unban, a large part of the internet.
 */
export class PrefixTooShortError extends EdgebanError {
  readonly target: string;
  readonly prefixLen: number;
  readonly minPrefix: number;
  constructor(target: string, prefixLen: number, minPrefix: number, family: 4 | 6) {
    super(
      'E_PREFIX_TOO_SHORT',
      `${target} is wider than the IPv${family} floor /${minPrefix} (ban.min_prefix_v${family}); send "force": true to apply it anyway`,
    );
    this.target = target;
    this.prefixLen = prefixLen;
    this.minPrefix = minPrefix;
  }
}

/** A manual ban naming a jail that is not configured (`E_UNKNOWN_JAIL`). */
export class UnknownJailError extends EdgebanError {
  readonly jail: string;
  constructor(jail: string) {
    super('E_UNKNOWN_JAIL', `no jail named ${JSON.stringify(jail.slice(0, 64))}`);
    this.jail = jail;
  }
}

/** A ban scoped to a service name that is not one (`E_INVALID_SERVICE`). */
export class InvalidServiceError extends EdgebanError {
  readonly service: string;
  constructor(service: string, why = 'service names are [a-z0-9_.-], 1-32 characters') {
    super('E_INVALID_SERVICE', `service ${JSON.stringify(service.slice(0, 64))}: ${why}`);
    this.service = service;
  }
}
