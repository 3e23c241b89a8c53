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
