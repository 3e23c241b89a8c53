/** Polls `f` every `stepMs` until it holds; throws naming `what` after `ms`. */
export async function until(
  what: string,
  f: () => boolean | Promise<boolean>,
  ms = 20_000,
  stepMs = 50,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
