import type { BanEngine } from '../engine/engine.js';
import type { AppContext, Service } from '../service.js';
import { dialectOf } from '../store/connect.js';
import type { Store } from '../store/types.js';
import { FleetBus } from './bus.js';

/**
 * The fleet bus as a Service of the app, when there is a fleet to speak to: `fleet.enabled` and
 * a PostgreSQL database (SQLite is one node's file; MySQL has no LISTEN/NOTIFY). Null otherwise.
 */
export function createFleetService(
  ctx: AppContext,
  engine: BanEngine,
  store: Store | null,
): (Service & { bus: FleetBus }) | null {
  const { database, fleet } = ctx.config;
  const log = ctx.log.child({ subsystem: 'fleet' });
  if (!fleet.enabled || !database.enabled || store === null) return null;
  if (dialectOf(database.driver) !== 'postgres') {
    log.debug({ driver: database.driver }, 'fleet sharing needs PostgreSQL: off');
    return null;
  }
  const bus = new FleetBus({
    dsn: database.dsn,
    channel: fleet.channel,
    engine,
    log,
    metrics: ctx.metrics,
    reloadLists: () => store.reloadNow(),
    // the other nodes batch their writes as this one does
    writeGraceMs: 2 * database.flush_interval + 5_000,
  });
  return {
    name: 'fleet',
    bus,
    start: async () => bus.start(),
    stop: () => bus.stop(),
  };
}
