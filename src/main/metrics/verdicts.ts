import type { FeedSet } from './feed.js';
import type { LatencyRecorder } from './latency.js';
import type { Metrics } from './registry.js';

/** The status values of `fail2ban_service_requests_total`, the same for every proxy. */
export type VerdictStatus = 'allowed' | 'denied' | 'error';

/** The plain counters a proxy front keeps: answers allowed, denied, and requests that got no verdict. */
export interface VerdictReaders {
  allowed: () => number;
  denied: () => number;
  error: () => number;
}

/**
 * Feeds `fail2ban_service_requests_total{service,status}` from a front's counters, every status
 * present from the start (a dashboard's `rate()` sees 0, not a missing series), and gives the
 * front its latency recorder. Both are detached with the FeedSet.
 */
export function feedProxyMetrics(
  m: Metrics,
  feeds: FeedSet,
  service: 'haproxy' | 'nginx' | 'envoy',
  read: VerdictReaders,
): LatencyRecorder {
  for (const status of ['allowed', 'denied', 'error'] as const) {
    m.serviceRequests.counter.inc({ service, status }, 0);
    feeds.add(m.serviceRequests.add(read[status], { service, status }));
  }
  const { recorder, detach } = m.serviceRequestDuration.recorder(service);
  feeds.add(detach);
  return recorder;
}
