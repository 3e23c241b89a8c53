import { setFlagsFromString } from 'node:v8';

let enabled = false;

/**
 * Turns on V8's linear-time regexp engine (Node 20 / V8 11.3, verified):
 * - `--enable-experimental-regexp-engine` allows the `l` flag, used at load time to prove that a
 *   pattern *can* run in linear time (no backreferences, no lookaround, no `i`/`u` flags, counted
 *   repetition of at most 16 after nesting);
 * - `--enable-experimental-regexp-engine-on-excessive-backtracks` makes every ordinary RegExp that
 *   backtracks too much (default 50,000 backtracks) rerun on the linear engine, so a `(a+)+$` fed a
 *   hostile line costs microseconds instead of minutes.
 * V8 flags are process-wide; calling this in the main thread before any worker starts and again in
 * each worker before it compiles is harmless. Idempotent.
 */
export function enableLinearRegexpEngine(): void {
  if (enabled) return;
  setFlagsFromString('--enable-experimental-regexp-engine');
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  enabled = true;
}
