#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (`npm run build`).
const entry = new URL('../dist/src/main/cli.js', import.meta.url);

let cli;
try {
  cli = await import(entry.href);
} catch (err) {
  // a fresh clone, or a build that never ran: say what to do instead of a module stack
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    const missing = String(err.message).includes('/dist/') || String(err.url ?? '').includes('/dist/');
    console.error(
      missing
        ? 'edgeban: not built yet (dist/ is missing): run `npm ci && npm run build` first'
        : `edgeban: a module is missing (${err.message.split('\n')[0]}): run \`npm ci && npm run build\``,
    );
    process.exit(2);
  }
  throw err;
}

cli.main(process.argv.slice(2)).then(
  (code) => {
    // worker threads and sockets may still hold the loop: the command decided, exit now
    process.exit(typeof code === 'number' ? code : 0);
  },
  (err) => {
    console.error(`edgeban: ${err instanceof Error ? err.message : String(err)}`);
    // usage, configuration and connection errors exit 2 (like grep); anything else 1
    const code = err?.code;
    process.exit(code === 'E_USAGE' || code === 'E_CONFIG' || code === 'E_API' ? 2 : 1);
  },
);
