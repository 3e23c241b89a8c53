/** The series the console charts, one value per second each. */
export const SERIES = [
  'haproxy_allowed',
  'haproxy_denied',
  'nginx_allowed',
  'nginx_denied',
  'envoy_allowed',
  'envoy_denied',
  'syslog_lines',
  'syslog_shed',
  'matches',
  'bans',
  'active_bans',
] as const;
export type SeriesName = (typeof SERIES)[number];

/**
 * The last hour, one sample per second, in typed arrays: a fixed 3600 × series block however
 * long the process runs, nothing allocated per sample.
 */
export class SampleRing {
  readonly capacity: number;
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  private head = 0;
  private count = 0;

  constructor(capacity = 3600) {
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity * SERIES.length);
  }

  get size(): number {
    return this.count;
  }

  /** `row` holds one value per SERIES entry, in order. */
  push(timeMs: number, row: ArrayLike<number>): void {
    const at = (this.head + this.count) % this.capacity;
    this.times[at] = timeMs;
    const base = at * SERIES.length;
    for (let i = 0; i < SERIES.length; i++) this.values[base + i] = row[i] ?? 0;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** Samples newer than `sinceMs`, column by column (what uPlot draws from). */
  since(sinceMs: number): { t: number[]; series: Record<SeriesName, number[]> } {
    const t: number[] = [];
    const series = Object.fromEntries(SERIES.map((s) => [s, [] as number[]])) as Record<SeriesName, number[]>;
    for (let k = 0; k < this.count; k++) {
      const at = (this.head + k) % this.capacity;
      if (this.times[at] <= sinceMs) continue;
      t.push(this.times[at]);
      const base = at * SERIES.length;
      for (let i = 0; i < SERIES.length; i++) series[SERIES[i]].push(this.values[base + i]);
    }
    return { t, series };
  }

  /** The newest sample, or null before the first. */
  last(): { t: number; row: Record<SeriesName, number> } | null {
    if (this.count === 0) return null;
    const at = (this.head + this.count - 1) % this.capacity;
    const base = at * SERIES.length;
    const row = Object.fromEntries(SERIES.map((s, i) => [s, this.values[base + i]])) as Record<
      SeriesName,
      number
    >;
    return { t: this.times[at], row };
  }
}
