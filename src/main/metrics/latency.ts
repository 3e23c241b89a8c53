import type { Metric, Registry } from 'prom-client';

/** One sample line of the exposition. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** What prom-client's registry reads from a metric at scrape. */
export interface HistogramSnapshot {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/** Upper bounds (seconds): 10 µs to 100 ms, where a proxy's answer from memory falls. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

const BOUNDS = Float64Array.from(LATENCY_BUCKETS);

/**
 * One proxy front's answer times: a plain bucket counter (typed array, no allocation, no label
 * lookup per observation), published by ServiceLatency at scrape.
 */
export class LatencyRecorder {
  /** Per bucket, not cumulative; the last slot is +Inf. */
  readonly counts = new Float64Array(BOUNDS.length + 1);
  sum = 0;
  count = 0;

  /** One answer that took `ms` milliseconds (a performance.now() difference). */
  observeMs(ms: number): void {
    const s = ms / 1000;
    let i = 0;
    const n = BOUNDS.length;
    while (i < n && s > BOUNDS[i]) i++;
    this.counts[i]++;
    this.sum += s;
    this.count++;
  }

  /**
   * `n` answers that took `ms` together (one socket read's NOTIFYs): each counted at their
   * average, the sum exact.
   */
  observeBatchMs(ms: number, n: number): void {
    const s = ms / 1000;
    const avg = s / n;
    let i = 0;
    const b = BOUNDS.length;
    while (i < b && avg > BOUNDS[i]) i++;
    this.counts[i] += n;
    this.sum += s;
    this.count += n;
  }

  addTo(into: LatencyRecorder): void {
    for (let i = 0; i < this.counts.length; i++) into.counts[i] += this.counts[i];
    into.sum += this.sum;
    into.count += this.count;
  }
}

/**
 * `fail2ban_service_request_duration_seconds{service}` as a histogram built from recorders at
 * scrape. A recorder that is detached (its server stopped) leaves its counts behind, so the
 * series never go down while the process lives.
 */
export class ServiceLatency {
  readonly name = 'fail2ban_service_request_duration_seconds';
  readonly help = 'Time to answer a proxy request (edgeban’s own work, from request to answer)';
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly live = new Map<LatencyRecorder, string>();
  private readonly retired = new Map<string, LatencyRecorder>();

  constructor(registry: Registry) {
    // prom-client's registry takes any object with its Metric shape
    registry.registerMetric(this as unknown as Metric);
  }

  /** A new recorder for `service`; the returned function detaches it. */
  recorder(service: string): { recorder: LatencyRecorder; detach: () => void } {
    const r = new LatencyRecorder();
    this.live.set(r, service);
    if (!this.retired.has(service)) this.retired.set(service, new LatencyRecorder());
    return {
      recorder: r,
      detach: () => {
        if (!this.live.delete(r)) return;
        const into = this.retired.get(service);
        if (into) r.addTo(into);
      },
    };
  }

  async get(): Promise<HistogramSnapshot> {
    const totals = new Map<string, LatencyRecorder>();
    for (const [service, r] of this.retired) {
      const t = new LatencyRecorder();
      r.addTo(t);
      totals.set(service, t);
    }
    for (const [r, service] of this.live) {
      const t = totals.get(service) ?? new LatencyRecorder();
      r.addTo(t);
      totals.set(service, t);
    }
    const values: Sample[] = [];
    for (const [service, t] of totals) {
      let acc = 0;
      for (let i = 0; i < BOUNDS.length; i++) {
        acc += t.counts[i];
        values.push({ metricName: `${this.name}_bucket`, labels: { le: BOUNDS[i], service }, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', service }, value: t.count });
      values.push({ metricName: `${this.name}_sum`, labels: { service }, value: t.sum });
      values.push({ metricName: `${this.name}_count`, labels: { service }, value: t.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    for (const r of this.live.keys()) {
      r.counts.fill(0);
      r.sum = 0;
      r.count = 0;
    }
    this.retired.clear();
  }
}
