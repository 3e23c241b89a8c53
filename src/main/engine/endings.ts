import type { BanEndReason, EndedBan, EndedBanListener } from './history.js';
import type { TempBans } from './records.js';
import type { BanRecord } from './types.js';

/**
 * The engine's listeners for ended bans (the store's history). A separate channel from ban
 * events: an expiry is no event (nothing to publish to the fleet or the store's bans table), and
 * a whitelist hides bans without lifting them. Without a listener nothing is built.
 */
export class BanEndings {
  private readonly listeners = new Set<EndedBanListener>();

  constructor(private readonly onError: (err: unknown) => void) {}

  get active(): boolean {
    return this.listeners.size > 0;
  }

  on(listener: EndedBanListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reports the temporary ban in `row` (still live) as ended. A ban whose time is up by `at`
   * counts as expired whatever removed it.
   */
  tempRow(temp: TempBans, row: number, reason: BanEndReason, by: string, at: number): void {
    if (this.listeners.size === 0 || !temp.isLive(row)) return;
    const expired = temp.expiresAt(row) <= at;
    this.report({
      record: temp.scopedRecord(row),
      reason: expired ? 'expired' : reason,
      by: expired ? 'engine' : by,
      at: expired ? temp.expiresAt(row) : at,
    });
  }

  /** Reports a list entry (a blacklist ban) as ended. */
  record(record: BanRecord, reason: BanEndReason, by: string, at: number): void {
    if (this.listeners.size === 0) return;
    this.report({ record, reason, by, at });
  }

  private report(e: EndedBan): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
