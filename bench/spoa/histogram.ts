/** Latency histograms the replayer and the soak's probe keep: fixed size, no allocation per sample. */

/** Latency histogram: 1 µs buckets below 1 ms, 10 µs buckets up to 100 ms, then overflow. */
export const HIST_SIZE = 1000 + 9900 + 1;
export function bucketOf(us: number): number {
  if (us < 1000) return us | 0;
  if (us < 100_000) return 1000 + (((us - 1000) / 10) | 0);
  return HIST_SIZE - 1;
}
export function bucketValue(b: number): number {
  return b < 1000 ? b : b < HIST_SIZE - 1 ? 1000 + (b - 1000) * 10 : 100_000;
}

/** The q-quantile (0..1) of `count` samples, as a bucket's value in µs. */
export function percentileOf(hist: Uint32Array, count: number, q: number): number {
  let need = Math.ceil(count * q);
  for (let i = 0; i < hist.length; i++) {
    need -= hist[i];
    if (need <= 0) return bucketValue(i);
  }
  return Number.NaN;
}
