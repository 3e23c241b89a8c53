import { Counter, type LabelValues, type Registry } from 'prom-client';

/**
 * Plain counters turned into Prometheus counters when scraped. Hot paths bump plain numbers
 * (no label lookup, no prom-client call per request); each number is a source of a
 * CounterFeed, which adds what every source grew by since the last scrape. Nothing runs between
 * scrapes, and a scrape sees the counts of that moment.
 */

interface Source<L extends string> {
  read: () => number;
  labels: LabelValues<L> | null;
  sent: number;
}

interface LabelledSource<L extends string> {
  label: L;
  read: () => ReadonlyMap<string | number, number>;
  sent: Map<string | number, number>;
}

/** Stops a source: its growth since the last scrape is exported first, so no count is lost. */
export type Detach = () => void;

export class CounterFeed<L extends string = string> {
  readonly counter: Counter<L>;
  private readonly sources = new Set<Source<L>>();
  private readonly labelled = new Set<LabelledSource<L>>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly L[] = []) {
    this.counter = new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect: () => this.pull(),
    });
  }

  /** At each scrape the counter (with `labels`, when it has label names) gains what `read()` grew by. */
  add(read: () => number, labels?: LabelValues<L>): Detach {
    const s: Source<L> = { read, labels: labels ?? null, sent: 0 };
    this.sources.add(s);
    return () => {
      this.pullOne(s);
      this.sources.delete(s);
    };
  }

  /** A source counting per value of one label (a status code, say): a map from value to count. */
  addByLabel(label: L, read: () => ReadonlyMap<string | number, number>): Detach {
    const s: LabelledSource<L> = { label, read, sent: new Map() };
    this.labelled.add(s);
    return () => {
      this.pullLabelled(s);
      this.labelled.delete(s);
    };
  }

  private pull(): void {
    for (const s of this.sources) this.pullOne(s);
    for (const s of this.labelled) this.pullLabelled(s);
  }

  private pullOne(s: Source<L>): void {
    const v = s.read();
    if (v <= s.sent) return;
    if (s.labels === null) this.counter.inc(v - s.sent);
    else this.counter.inc(s.labels, v - s.sent);
    s.sent = v;
  }

  private pullLabelled(s: LabelledSource<L>): void {
    for (const [value, n] of s.read()) {
      const before = s.sent.get(value) ?? 0;
      if (n <= before) continue;
      this.counter.inc({ [s.label]: String(value) } as LabelValues<L>, n - before);
      s.sent.set(value, n);
    }
  }
}

const feeds = new WeakMap<Registry, Map<string, CounterFeed<string>>>();

/**
 * The feed of counter `name` on `registry`, made on first use: services started again on the same
 * registry (tests, reloads) add their sources to the one counter.
 */
export function counterFeed<L extends string = string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): CounterFeed<L> {
  let byName = feeds.get(registry);
  if (byName === undefined) {
    byName = new Map();
    feeds.set(registry, byName);
  }
  let f = byName.get(name);
  if (f === undefined) {
    f = new CounterFeed<string>(registry, name, help, labelNames);
    byName.set(name, f);
  }
  return f as unknown as CounterFeed<L>;
}

/** The sources one service feeds; `detach` at stop exports the last counts and removes them all. */
export class FeedSet {
  private readonly detaches: Detach[] = [];

  add(detach: Detach): void {
    this.detaches.push(detach);
  }

  detach(): void {
    for (const d of this.detaches.splice(0)) d();
  }
}
