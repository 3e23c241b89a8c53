/** Short texts the store logs and reports (`last_error`), and column clipping. */

/** One line for an error: the message with the driver's code when it does not say it already. */
export function errText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errText(err.errors[0]);
  const e = err as { message?: string; code?: string };
  const msg = e?.message || String(err);
  return e?.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

/** Columns are VARCHAR(255) unless said otherwise: longer values are cut, never refused. */
export const MAX_TEXT = 255;

export function clip(s: string | null, n = MAX_TEXT): string | null {
  return s === null || s.length <= n ? s : s.slice(0, n);
}
