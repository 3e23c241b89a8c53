import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../../metrics/registry.js';

export interface NftablesMetrics {
  elements: Gauge<'set'>;
  batchErrors: Counter<string>;
  syncLag: Gauge<string>;
}

/** The sink's metrics, on the process registry. */
export function nftablesMetrics(m: Metrics): NftablesMetrics {
  const registers = [m.registry];
  return {
    elements: new Gauge({
      name: 'edgeban_nftables_elements',
      help: 'Elements edgeban has put in each of its nftables sets',
      labelNames: ['set'] as const,
      registers,
    }),
    batchErrors: new Counter({
      name: 'edgeban_nftables_batch_errors_total',
      help: 'nft batches refused (each is followed by a resync of the sets)',
      registers,
    }),
    syncLag: new Gauge({
      name: 'edgeban_nftables_sync_lag_seconds',
      help: 'From the oldest change of the last batch to nft applying it',
      registers,
    }),
  };
}
