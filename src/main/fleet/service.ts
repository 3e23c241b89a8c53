import type { BanEngine } from '../engine/engine.js';
import type { AppContext, Service } from '../service.js';
import { dialectOf, postgresConfig } from '../store/connect.js';
import type { Store } from '../store/types.js';
import { FleetBus } from './bus.js';
import { FleetCounting } from './counting.js';
import { fleetKey } from './messages.js';

/**
 * The fleet bus as a Service of the app, when there is a fleet to speak to: `fleet.enabled` and
 * a PostgreSQL database (SQLite is one node's file; MySQL has no LISTEN/NOTIFY), and a secret to
 * sign with: `fleet.secret`, or else the database password (DSN or PGPASSWORD). Without one the fleet stays
 * off (and says so): any role allowed to connect could otherwise ban and unban on every node.
 * After a lost connection the bus catches up through `store` (the other nodes' bans, the lists).
 * Null when there is no fleet.
 */
export function createFleetService(
  ctx: AppContext,
  engine: BanEngine,
  store: Pick<Store, 'reloadNow' | 'readOtherNodesBans' | 'isConnected' | 'onReady'> | null,
): (Service & { bus: FleetBus; counting: FleetCounting | null }) | null {
  const { database, fleet } = ctx.config;
  const log = ctx.log.child({ subsystem: 'fleet' });
  if (!fleet.enabled || !database.enabled) return null;
  if (dialectOf(database.driver) !== 'postgres') {
    log.debug({ driver: database.driver }, 'fleet sharing needs PostgreSQL: off');
    return null;
  }
  let password: unknown;
  try {
    password = postgresConfig(database.dsn).password ?? process.env.PGPASSWORD; // as pg itself reads it
  } catch {
    return null; // the store reports the DSN it cannot use
  }
  const secret = fleet.secret || (typeof password === 'string' ? password : '');
  if (secret === '') {
    log.warn(
      'fleet sharing off: no fleet.secret and no password in database.dsn to sign fleet messages with ' +
        '(any role that can connect to the database could otherwise ban and unban on every node)',
    );
    return null;
  }
  const bus = new FleetBus({
    dsn: database.dsn,
    channel: fleet.channel,
    key: fleetKey(secret),
    engine,
    log,
    metrics: ctx.metrics,
    reloadLists: store ? () => store.reloadNow() : undefined,
    bans: store ?? undefined,
    // the other nodes batch their writes as this one does
    writeGraceMs: 2 * database.flush_interval + 5_000,
  });
  // every node's failures per (jail, address) add up: on the bus's connection, its own channel
  const counting = fleet.counting
    ? new FleetCounting({
        engine,
        node: engine.node,
        bus,
        channel: fleet.channel,
        key: fleetKey(secret),
        intervalMs: fleet.counting_interval,
        maxEntries: fleet.counting_max_entries,
        log,
        metrics: ctx.metrics,
      })
    : null;
  return {
    name: 'fleet',
    bus,
    counting,
    start: async () => {
      counting?.start();
      bus.start();
    },
    stop: async () => {
      await counting?.stop();
      await bus.stop();
    },
  };
}
