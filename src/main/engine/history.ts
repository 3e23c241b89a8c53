import type { BanRecord } from './types.js';

/** How a ban left force: the `end_reason` of its history row. */
export type BanEndReason = 'expired' | 'unban' | 'whitelist' | 'purge' | 'replaced';

export const BAN_END_REASONS: readonly BanEndReason[] = [
  'expired',
  'unban',
  'whitelist',
  'purge',
  'replaced',
];

/** A ban that ended on this node: what it was, how and when it ended, and who ended it. */
export interface EndedBan {
  record: BanRecord;
  reason: BanEndReason;
  /** The API user or peer; `engine` for expiries. */
  by: string;
  /** unix ms */
  at: number;
}

export type EndedBanListener = (e: EndedBan) => void;
