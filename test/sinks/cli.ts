import { connect } from 'node:net';

/** One command to a HAProxy runtime API socket, then `quit` (the master CLI would keep the connection open). */
export function cliQuery(addr: { path: string } | { port: number }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = 'path' in addr ? connect({ path: addr.path }) : connect({ host: '127.0.0.1', port: addr.port });
    let out = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${command}\nquit\n`));
    s.on('data', (d: string) => {
      out += d;
    });
    s.on('error', reject);
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 5000).unref();
  });
}

/** `show map` as key → value (the entry ids left out). */
export async function showMap(
  addr: { path: string } | { port: number },
  map: string,
  master = false,
): Promise<Map<string, string>> {
  const out = await cliQuery(addr, `${master ? '@1 ' : ''}show map ${map}`);
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 3 && f[0].startsWith('0x')) m.set(f[1], f[2]);
  }
  return m;
}

/** Poll `check` every 50 ms until it returns true, or throw with `what` after `ms`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  // a socket that is not back yet (a reload) counts as "not yet"
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
