import type { EndedBan } from '../engine/history.js';
import type { BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import { StoreDisabledError } from './errors.js';
import type { HistoryPage, HistoryQuery } from './history.js';
import type { StoredJail } from './jail-rows.js';
import type { RecentBan } from './recent-bans.js';
import type {
  BanConfigRow,
  ConfigSourceStatus,
  DatabaseStatus,
  PatternRow,
  PolicySnapshot,
  StatePage,
  Store,
} from './types.js';

/**
 * The store with `database.enabled: false`: nothing is kept, loads are empty, it never connects,
 * and everything that needs the database (the API's patterns and ban_config) refuses with
 * StoreDisabledError (E_DB_DISABLED, a 503 on the API). This is the one place that answer is made.
 */
export class NullStore implements Store {
  readonly isConnected = false;
  readonly cachedPolicy = null;
  readonly stopDigest = null;

  constructor(private readonly driver: string) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async stateDigest(): Promise<string | null> {
    return null;
  }
  onReady(_listener: () => void): () => void {
    return () => {};
  }
  takeRecovered(): BanEvent[] {
    return [];
  }
  enqueue(_e: BanEvent): void {}
  recordEnded(_e: EndedBan): void {}
  async readHistory(_q: HistoryQuery): Promise<HistoryPage> {
    throw new StoreDisabledError('the ban history');
  }
  async readRecentBans(_sinceMs: number, _limit: number): Promise<RecentBan[]> {
    return [];
  }
  async flush(): Promise<{ durable: boolean }> {
    return { durable: false };
  }
  async loadState(_nowMs: number): Promise<{ bans: BanRecord[]; offences: OffenceRecord[] }> {
    return { bans: [], offences: [] };
  }
  async loadStatePaged(
    _nowMs: number,
    _onPage: (p: StatePage) => void | Promise<void>,
  ): Promise<{ bans: number; offences: number }> {
    return { bans: 0, offences: 0 };
  }
  async readOtherNodesBans(
    _node: string,
    _nowMs: number,
    _onPage: (bans: BanRecord[]) => void | Promise<void>,
  ): Promise<number> {
    throw new StoreDisabledError('reading the bans of other nodes');
  }
  async reloadNow(): Promise<void> {}
  onPolicy(_listener: (p: PolicySnapshot) => void): () => void {
    return () => {};
  }
  async listPatterns(): Promise<PatternRow[]> {
    throw new StoreDisabledError('listing patterns');
  }
  async createPattern(): Promise<PatternRow> {
    throw new StoreDisabledError('creating a pattern');
  }
  async updatePattern(): Promise<PatternRow | null> {
    throw new StoreDisabledError('updating a pattern');
  }
  async deletePattern(): Promise<boolean> {
    throw new StoreDisabledError('deleting a pattern');
  }
  async getBanConfig(): Promise<BanConfigRow | null> {
    return null;
  }
  async putBanConfig(): Promise<BanConfigRow> {
    throw new StoreDisabledError('writing ban_config');
  }
  async listJails(): Promise<StoredJail[]> {
    throw new StoreDisabledError('listing the jails of the database');
  }
  async createJail(): Promise<StoredJail> {
    throw new StoreDisabledError('creating a jail');
  }
  async updateJail(): Promise<StoredJail | null> {
    throw new StoreDisabledError('updating a jail');
  }
  async deleteJail(): Promise<boolean> {
    throw new StoreDisabledError('deleting a jail');
  }
  databaseStatus(): DatabaseStatus {
    return {
      enabled: false,
      connected: false,
      driver: this.driver,
      failure_count: 0,
      last_successful_load: null,
      has_cached_config: false,
    };
  }
  configSource(): ConfigSourceStatus {
    return {
      patterns_source: 'file',
      ban_config_source: 'file',
      database_enabled: false,
      database_connected: false,
    };
  }
}
