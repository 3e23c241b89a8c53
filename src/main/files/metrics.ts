import { Gauge, type Registry } from 'prom-client';
import { counterFeed } from '../metrics/feed.js';
import type { FileSourceCounters } from './follower.js';

/** Registers `edgeban_file_*` (labelled by the configured path or glob) on `registry`, once. */
export function registerFileMetrics(
  registry: Registry,
  sources: () => ReadonlyMap<string, FileSourceCounters>,
  followed: () => number,
): void {
  if (registry.getSingleMetric('edgeban_files_followed')) return;
  const by = (read: (c: FileSourceCounters) => number) => () => {
    const m = new Map<string, number>();
    for (const [k, c] of sources()) m.set(k, read(c));
    return m;
  };
  const counter = (name: string, help: string, read: (c: FileSourceCounters) => number) =>
    counterFeed(registry, name, help, ['source']).addByLabel('source', by(read));
  counter('edgeban_file_lines_total', 'Lines read from followed log files, by file source', (c) => c.lines);
  counter(
    'edgeban_file_truncated_lines_total',
    'File lines longer than syslog.max_line_length, cut',
    (c) => c.truncated,
  );
  counter(
    'edgeban_file_rotations_total',
    'Followed files rotated by rename (the new file read from 0)',
    (c) => c.rotations,
  );
  counter(
    'edgeban_file_truncations_total',
    'Followed files truncated or rewritten in place (copytruncate; read again from 0)',
    (c) => c.truncations,
  );
  counter('edgeban_file_errors_total', 'Errors opening or reading followed files', (c) => c.errors);
  const g: Gauge<string> = new Gauge({
    name: 'edgeban_files_followed',
    help: 'Log files followed now',
    registers: [registry],
    collect() {
      g.set(followed());
    },
  });
}
