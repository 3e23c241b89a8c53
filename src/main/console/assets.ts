import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the build writes the bundled page (dist/ui beside dist/src). */
export const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'ui');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * The built page, read once into memory: index.html and the content-hashed files it names.
 * Hashed names never change content, so they are cached for a year; index.html is revalidated.
 */
export class Assets {
  readonly files = new Map<string, Asset>();
  readonly index: Asset | null;

  constructor(dir = UI_DIR) {
    if (!existsSync(join(dir, 'index.html'))) {
      this.index = null;
      return;
    }
    for (const name of readdirSync(join(dir, 'assets'))) {
      const body = readFileSync(join(dir, 'assets', name));
      this.files.set(name, {
        body,
        type: TYPES[extname(name)] ?? 'application/octet-stream',
        etag: etag(body),
      });
    }
    const html = readFileSync(join(dir, 'index.html'));
    this.index = { body: html, type: TYPES['.html'], etag: etag(html) };
  }
}

function etag(b: Buffer): string {
  return `"${createHash('sha256').update(b).digest('base64url').slice(0, 22)}"`;
}
