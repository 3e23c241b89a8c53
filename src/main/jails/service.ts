import type { BanEngine } from '../engine/engine.js';
import type { AppContext, Service } from '../service.js';
import type { Store } from '../store/types.js';
import { rebuildBanCounts } from './rebuild.js';
import { Recidive } from './recidive.js';
import { SubnetBans } from './subnet.js';

/**
 * Recidive and subnet aggregation as a Service of the app: both follow the engine's ban events
 * (this node's and the fleet's) and take up the engine's jails whenever they change. With a
 * store, `start` first rebuilds their counts from the bans of their window; it runs before the
 * receivers and the fleet start, so no new ban event can come between.
 */
export function createJailBansService(
  ctx: AppContext,
  engine: BanEngine,
  store: Pick<Store, 'readRecentBans'> | null = null,
): Service & { recidive: Recidive; subnet: SubnetBans } {
  const log = ctx.log.child({ subsystem: 'jails' });
  const opts = { engine, log, metrics: ctx.metrics, jails: () => engine.getJails() };
  const recidive = new Recidive(opts);
  const subnet = new SubnetBans(opts);
  const update = () => {
    recidive.update(engine.getJails());
    subnet.update(engine.getJails());
  };
  update();
  return {
    name: 'jails',
    recidive,
    subnet,
    start: async () => {
      update();
      if (store) await rebuildBanCounts({ store, recidive, subnet, jails: engine.getJails(), log });
    },
    stop: () => {
      recidive.stop();
      subnet.stop();
    },
    reload: update,
  };
}
