import { BanTable, LookupResult, Verdict } from '../../shared/bantable/index.js';
import { defaultConfig } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import { BanEngine } from '../engine/index.js';

/** A ban engine with its own ban table, not shared with any running edgeban. */
export interface StandaloneEngine {
  engine: BanEngine;
  table: BanTable;
  /** Does a lookup now say DENY for `ip`? */
  isBanned(ip: string): boolean;
}

/**
 * Builds a fresh BanEngine + BanTable from the config's ban policy (`ban.*`, static lists): what
 * `edgeban replay` counts bans with, and what tests and benchmarks drive the pipeline into.
 */
export async function createReplayEngine(
  config: Config = defaultConfig(),
  opts: { nodeId?: string; live?: boolean } = {},
): Promise<StandaloneEngine> {
  const table = new BanTable({ initialCapacity: 1 << 12 });
  const ban = config.ban;
  const engine = new BanEngine({
    table,
    ...BanEngine.configOptions(ban),
    nodeId: opts.nodeId ?? 'replay',
  });
  const now = Date.now();
  const list = (kind: 'blacklist' | 'whitelist') =>
    config[kind].map((e) => ({
      target: e.ip,
      kind,
      reason: e.reason || `config ${kind}`,
      pattern: null,
      createdAt: now,
      expiresAt: null,
      createdBy: 'config',
      offences: 0,
      node: opts.nodeId ?? 'replay',
    }));
  engine.replaceLists('config', [...list('blacklist'), ...list('whitelist')]);
  const out = new LookupResult();
  return {
    engine,
    table,
    isBanned: (ip) => table.checkString(ip, Math.floor(Date.now() / 1000), out) === Verdict.DENY,
  };
}
