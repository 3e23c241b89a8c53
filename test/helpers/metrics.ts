/**
 * Every sample on a running edgeban's Prometheus port, summed per metric name over its label
 * sets (a name that is absent reads as missing from the map).
 */
export async function metricTotals(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{[^}]*\})? (\S+)$/i.exec(line);
    if (!m) continue;
    const v = Number(m[2]);
    if (Number.isFinite(v)) totals.set(m[1], (totals.get(m[1]) ?? 0) + v);
  }
  return totals;
}

/** One metric summed over its label sets; 0 when edgeban publishes none of it. */
export async function metricTotal(port: number, name: string): Promise<number> {
  return (await metricTotals(port)).get(name) ?? 0;
}
