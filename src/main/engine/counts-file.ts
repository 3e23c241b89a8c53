import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { FAMILY_INVALID, formatIp, parseIpInto } from '../../shared/ip/parse.js';
import type { FailureTrackers } from './trackers.js';

/** The file the failure counts are kept in across a restart (beside the SQLite database). */
export const COUNTS_FILE = 'edgeban-failure-counts.json';

/** Most (jail, address) counts written: a flood's one-shot addresses are not worth a restart. */
export const MAX_SAVED_COUNTS = 200_000;

interface CountsSource {
  countingJails(): { name: string; trackers: FailureTrackers }[];
}

/** One line of the file: jail, counted target (address, or IPv6 prefix address), failure times (unix ms). */
type Entry = [string, string, number[]];

/**
 * Writes every jail's failures still in its window (atomically: a temp file, then a rename), the
 * addresses with the most failures first when there are more than MAX_SAVED_COUNTS. Returns how
 * many were written.
 */
export function saveCounts(engine: CountsSource, file: string, nowMs = Date.now()): number {
  const entries: Entry[] = [];
  for (const j of engine.countingJails())
    j.trackers.forEachCounted(nowMs, (key, family, times) => {
      entries.push([j.name, formatIp(key.subarray(0, family === 4 ? 4 : 16), family), times]);
    });
  if (entries.length > MAX_SAVED_COUNTS)
    entries.sort((a, b) => b[2].length - a[2].length).length = MAX_SAVED_COUNTS;
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: 1, saved_at: nowMs, counts: entries }));
  renameSync(tmp, file);
  return entries.length;
}

/**
 * Puts the counts of a previous run back (times outside a jail's window now are dropped by the
 * trackers themselves), then removes the file: a count is handed back once. A missing or
 * unreadable file restores nothing. Returns how many (jail, address) counts came back.
 */
export function loadCounts(engine: CountsSource, file: string, nowMs = Date.now()): number {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
  rmSync(file, { force: true });
  const counts = (raw as { counts?: unknown }).counts;
  if (!Array.isArray(counts)) return 0;
  const jails = new Map(engine.countingJails().map((j) => [j.name, j.trackers]));
  const bytes = new Uint8Array(16);
  let n = 0;
  for (const e of counts.slice(0, MAX_SAVED_COUNTS)) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !Array.isArray(e[2]))
      continue;
    const t = jails.get(e[0]);
    if (t === undefined) continue;
    const fam = parseIpInto(e[1], bytes);
    if (fam === FAMILY_INVALID) continue;
    let any = false;
    for (const time of e[2].slice(0, 64)) {
      if (typeof time !== 'number' || !Number.isFinite(time) || time > nowMs) continue;
      t.record(bytes, fam as 4 | 6, time);
      any = true;
    }
    if (any) n++;
  }
  return n;
}
