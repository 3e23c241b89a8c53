import { createServer } from 'node:net';

/**
 * Ports this process already handed out. The kernel may hand a just-closed port out again, and
 * a test that asks for several ports before anything binds them (edgeban serve binds its SPOA
 * last) would then get the same one twice.
 */
const handedOut = new Set<number>();

/** A TCP port free on 127.0.0.1 right now (the kernel picks it), never one returned before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}
