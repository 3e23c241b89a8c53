import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
// each test file runs in its own process: what it made goes when it ends, whatever happened
process.on('exit', () => {
  for (const d of made) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // a folder still in use by something we do not own: leave it
    }
  }
});

/** A fresh folder under the OS temp folder, removed when this test process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
