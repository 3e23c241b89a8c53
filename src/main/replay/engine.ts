import { defaultConfig } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import type { FailureSink } from '../ingest/pipeline.js';

/** An engine with its own ban table: for replays and benchmarks. */
export interface StandaloneEngine {
  engine: FailureSink;
  isBanned(ip: string): boolean;
}

/**
 * Builds a fresh BanEngine + BanTable from the config's ban policy, not shared with any running
 * edgeban. Returns null while the engine module is unavailable.
 */
export async function createReplayEngine(config: Config = defaultConfig()): Promise<StandaloneEngine | null> {
  void config;
  return null;
}
