import type { BanEngine } from '../../engine/engine.js';
import type { AppContext, Service } from '../../service.js';
import { nftablesMetrics } from './metrics.js';
import { familiesOf, type TableSpec } from './script.js';
import { NftablesSink } from './sink.js';

/** The nftables sink as a Service of the app (`nftables.enabled`). */
export function createNftablesService(
  ctx: AppContext,
  engine: BanEngine,
  restored: () => boolean,
): Service & { sink: NftablesSink } {
  const c = ctx.config.nftables;
  const family = c.family as TableSpec['family'];
  const sink = new NftablesSink({
    spec: {
      family,
      table: c.table,
      families: familiesOf(family),
      chain: c.chain,
      ports: c.ports,
      action: c.action as TableSpec['action'],
    },
    nft: c.nft,
    engine,
    log: ctx.log.child({ subsystem: 'nftables' }),
    metrics: nftablesMetrics(ctx.metrics),
    flushIntervalMs: c.flush_interval,
    maxPending: c.max_pending,
    resyncIntervalMs: c.resync_interval,
    // without a database there is nothing to restore: the resync happens at start
    restored: ctx.config.database.enabled ? restored : undefined,
  });
  return {
    name: 'nftables',
    sink,
    start: () => sink.start(),
    stop: () => sink.stop(),
    // lists from the config may have changed; table, family and chain take a restart
    reload: () => sink.requestDiff(),
  };
}
