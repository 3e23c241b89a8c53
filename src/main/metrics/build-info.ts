import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `npm run build` records about the source it built (dist/build-info.json). */
export interface BuildInfo {
  commit: string;
  /** The working tree had changes that are not in `commit`. */
  dirty: boolean;
  builtAt: string;
}

/** dist/build-info.json, beside dist/src. */
export const BUILD_INFO_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'build-info.json',
);

/** The commit this process runs: EDGEBAN_COMMIT wins (images built without .git), then the build's record. */
export function buildCommit(env: NodeJS.ProcessEnv = process.env, path = BUILD_INFO_PATH): string {
  if (env.EDGEBAN_COMMIT) return env.EDGEBAN_COMMIT;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<BuildInfo>;
    if (typeof info.commit === 'string' && /^[0-9a-f]{7,40}$/.test(info.commit))
      return info.dirty ? `${info.commit}-dirty` : info.commit;
  } catch {
    // not built by `npm run build` (or the file is gone): unknown
  }
  return 'unknown';
}
