import type { BanEvent, BanRecord, OffenceRecord } from '../engine/types.js';
import { StoreDisabledError } from './errors.js';
import type {
  BanConfigRow,
  ConfigSourceStatus,
  DatabaseStatus,
  PatternRow,
  PolicySnapshot,
  Store,
} from './types.js';

/** The store with `database.enabled: false`: nothing is kept, loads are empty, writes to policy refuse. */
export class NullStore implements Store {
  constructor(private readonly driver: string) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  enqueue(_e: BanEvent): void {}
  async flush(): Promise<{ durable: boolean }> {
    return { durable: false };
  }
  async loadState(_nowMs: number): Promise<{ bans: BanRecord[]; offences: OffenceRecord[] }> {
    return { bans: [], offences: [] };
  }
  async reloadNow(): Promise<void> {}
  onPolicy(_listener: (p: PolicySnapshot) => void): () => void {
    return () => {};
  }
  async listPatterns(): Promise<PatternRow[]> {
    return [];
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
