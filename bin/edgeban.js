#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (`npm run build`).
import { main } from '../dist/src/main/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    // worker threads and sockets may still hold the loop: the command decided, exit now
    process.exit(typeof code === 'number' ? code : 0);
  },
  (err) => {
    console.error(`edgeban: ${err instanceof Error ? err.message : String(err)}`);
    // usage errors exit 2, like most command-line tools; anything else 1
    process.exit(err && err.code === 'E_USAGE' ? 2 : 1);
  },
);
