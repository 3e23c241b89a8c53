/** Same-origin calls: the browser sends the API's Basic credentials it was asked for by /ui. */
export async function get<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export async function send(
  path: string,
  method: 'POST' | 'DELETE',
  body: unknown,
): Promise<{ ok: boolean; message: string }> {
  const res = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  let message = `HTTP ${res.status}`;
  try {
    const j = (await res.json()) as { message?: string };
    if (j.message) message = j.message;
  } catch {
    // not JSON: the status says it
  }
  return { ok: res.ok, message };
}

// the server's own type: the page reads exactly what recent.ts sends
export type { ConsoleEvent } from '../recent.js';

export interface Sample {
  t: number;
  row: Record<string, number>;
}

/**
 * The live stream (server-sent events) read through fetch, so the same credentials apply as
 * for every other call; reconnects after a pause when the stream ends.
 */
export function live(on: (type: string, data: unknown) => void, state: (up: boolean) => void): void {
  const run = async () => {
    try {
      const res = await fetch('/api/console/live', {
        headers: { accept: 'text/event-stream' },
        cache: 'no-store',
      });
      if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
      state(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut = buf.indexOf('\n\n');
        while (cut >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          cut = buf.indexOf('\n\n');
          let type = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') on(type, JSON.parse(data));
        }
      }
    } catch {
      // down: shown by the dot, tried again below
    }
    state(false);
    setTimeout(run, 2000);
  };
  void run();
}
