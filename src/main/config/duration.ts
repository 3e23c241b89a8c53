/**
 * Go-style durations (`5m`, `1h30m`, `250ms`, `1.5h`, `10us`/`10µs`, `100ns`), as the reference
 * system's config uses them. A bare number is SECONDS (the reference read it as nanoseconds,
 * which nobody means). Returns milliseconds, or null when the text is not a duration.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

export function parseDuration(input: unknown): number | null {
  if (typeof input === 'number') return Number.isFinite(input) ? input * 1000 : null;
  if (typeof input !== 'string') return null;
  const s = input.trim();
  if (s === '') return null;
  if (/^[-+]?\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  let sign = 1;
  let i = 0;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (s.slice(i) === '0') return 0;
  let total = 0;
  PART.lastIndex = i;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (m === null || m.index !== at) return null;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return sign * total;
}

/** Milliseconds back to Go-style text, trimmed: `1h30m`, `250ms`, `0s` (config output). */
export function formatDuration(ms: number): string {
  return durationText(ms, false);
}

/** Go's own `time.Duration` text: `30m0s`, `1h30m0s`, `1.5s` (the reference's API messages). */
export function goDuration(ms: number): string {
  return durationText(ms, true);
}

/** `full`: Go's form, where hours carry their minutes and every value ends in seconds. */
function durationText(ms: number, full: boolean): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${Number(rest.toFixed(3))}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Number((rest / 1000).toFixed(3));
  let out = '';
  if (h) out += `${h}h`;
  if (m || (full && h)) out += `${m}m`;
  if (s || full) out += `${s}s`;
  return (neg ? '-' : '') + out;
}
