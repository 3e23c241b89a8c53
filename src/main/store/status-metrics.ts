import { Gauge, type Registry } from 'prom-client';
import type { DatabaseStatus } from './types.js';

/**
 * The database's state as gauges, read on scrape from the store's own status: what the alert
 * rules watch (database down, journal filling while it is down).
 */
export function registerStoreStatusMetrics(registry: Registry, status: () => DatabaseStatus | null): void {
  if (registry.getSingleMetric('edgeban_database_up')) return;
  const registers = [registry];
  new Gauge({
    name: 'edgeban_database_up',
    help: 'Whether the database answers (1) or not (0); absent without a database',
    registers,
    collect() {
      const s = status();
      if (s !== null) this.set(s.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'edgeban_database_pending_writes',
    help: 'Ban, list and offence changes not yet in the database (the journal while it is down)',
    registers,
    collect() {
      this.set(status()?.pending_writes ?? 0);
    },
  });
  new Gauge({
    name: 'edgeban_database_journal_dropped',
    help: 'Changes dropped because the journal was full during a database outage',
    registers,
    collect() {
      this.set(status()?.journal_dropped ?? 0);
    },
  });
}
