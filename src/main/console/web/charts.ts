import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Sample } from './api.js';

interface ChartSpec {
  target: HTMLElement;
  series: { key: string; label: string; color: string }[];
}

const WINDOW_S = 3600;

/** One uPlot chart over the last hour, fed a sample per second; resized with its panel. */
export class LiveChart {
  private readonly plot: uPlot;
  private readonly data: number[][];
  private readonly keys: string[];

  constructor(spec: ChartSpec) {
    this.keys = spec.series.map((s) => s.key);
    this.data = [[], ...this.keys.map(() => [])];
    const width = Math.max(spec.target.clientWidth, 280);
    this.plot = new uPlot(
      {
        width,
        height: 180,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { size: 50 }],
        series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5 }))],
      },
      this.data as uPlot.AlignedData,
      spec.target,
    );
    new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(spec.target.clientWidth, 280), height: 180 }),
    ).observe(spec.target);
  }

  /** The hour the server kept (column arrays, as /api/console/samples answers). */
  load(t: number[], series: Record<string, number[]>): void {
    this.data[0] = t.map((x) => x / 1000);
    this.keys.forEach((k, i) => {
      this.data[i + 1] = series[k] ?? [];
    });
    this.plot.setData(this.data as uPlot.AlignedData);
  }

  push(s: Sample): void {
    this.data[0].push(s.t / 1000);
    for (let i = 0; i < this.keys.length; i++) this.data[i + 1].push(s.row[this.keys[i]] ?? 0);
    const cut = this.data[0].length - WINDOW_S;
    if (cut > 0) for (const col of this.data) col.splice(0, cut);
    this.plot.setData(this.data as uPlot.AlignedData);
  }
}
