import { hostname } from 'node:os';
import { BanTable, LookupResult, Verdict } from '../shared/bantable/index.js';
import { defaultConfig } from './config/defaults.js';
import type { Config, ListEntryConfig } from './config/types.js';
import { BanEngine, type BanEngineOptions } from './engine/index.js';
import type { BanRecord } from './engine/types.js';
import type { Logger } from './log/logger.js';
import type { Metrics } from './metrics/registry.js';

/** The parts of the config the core is made from. */
export type CoreConfig = Pick<Config, 'ban' | 'blacklist' | 'whitelist'> & {
  fleet?: Pick<Config['fleet'], 'node'>;
  /** The config file's jails (the database's are merged over them by the store binding). */
  jails?: Config['jails'];
};

export interface CoreOptions {
  /** `ban.*` and the static `blacklist` / `whitelist`; the embedded defaults when absent. */
  config?: CoreConfig;
  /** This node's name in ban records; default `fleet.node`, else the host name. */
  nodeId?: string;
  /** Slots the table starts with (it grows); default 65,536. */
  initialCapacity?: number;
  /** Engine options that replace what `ban.*` says (tests with a policy in milliseconds). */
  engine?: Partial<Pick<BanEngineOptions, 'policy' | 'ignoreIps' | 'ipv6Prefix' | 'maxTracked'>>;
  now?: () => number;
  log?: Logger;
  metrics?: Metrics;
}

/**
 * The ban state of one process: the shared-memory table lookups read, the engine that is its
 * only writer, and the config's static lists already in force.
 */
export interface Core {
  readonly table: BanTable;
  readonly engine: BanEngine;
  readonly nodeId: string;
  /** A new config (SIGHUP): ban policy, `ban.ignore_ips`, the static lists and the jails. */
  applyConfig(config: CoreConfig): void;
  /** Does a lookup now say DENY for `ip`? */
  isBanned(ip: string): boolean;
}

/** Builds the table, the engine and the config's lists: the one place they are put together. */
export function createCore(opts: CoreOptions = {}): Core {
  const config = opts.config ?? defaultConfig();
  const nodeId = opts.nodeId ?? (config.fleet?.node || hostname());
  const table = new BanTable({ initialCapacity: opts.initialCapacity ?? 1 << 16 });
  const engine = new BanEngine({
    table,
    ...BanEngine.configOptions(config.ban),
    ...opts.engine,
    nodeId,
    now: opts.now,
    log: opts.log,
    metrics: opts.metrics,
  });
  engine.replaceLists('config', configLists(config, nodeId));
  engine.setJails(config.jails ?? []);
  engine.setMode(config.ban.mode ?? 'enforce');
  const out = new LookupResult();
  return {
    table,
    engine,
    nodeId,
    applyConfig(next) {
      engine.setPolicy(BanEngine.policyFromConfig(next.ban));
      engine.setIgnoreIps(next.ban.ignore_ips);
      engine.replaceLists('config', configLists(next, nodeId));
      engine.setJails(next.jails ?? []);
      engine.setMode(next.ban.mode ?? 'enforce');
    },
    isBanned: (ip) => table.checkString(ip, Math.floor(Date.now() / 1000), out) === Verdict.DENY,
  };
}

/** The config's static `blacklist` / `whitelist` sections as list records (source: config). */
function configLists(config: CoreConfig, node: string): BanRecord[] {
  const now = Date.now();
  const rec =
    (kind: 'blacklist' | 'whitelist') =>
    (e: ListEntryConfig): BanRecord => ({
      target: e.ip,
      kind,
      reason: e.reason || `config ${kind}`,
      pattern: null,
      createdAt: now,
      expiresAt: null,
      createdBy: 'config',
      offences: 0,
      node,
    });
  return [...config.blacklist.map(rec('blacklist')), ...config.whitelist.map(rec('whitelist'))];
}
