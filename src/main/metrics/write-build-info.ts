import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { BUILD_INFO_PATH, type BuildInfo } from './build-info.js';

/**
 * Run by `npm run build`: records the commit being built so `fail2ban_build_info` and
 * `edgeban --version` name it. EDGEBAN_COMMIT (an image build's argument) wins over git, which a
 * build without .git does not have.
 */
function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const commit = process.env.EDGEBAN_COMMIT || git(['rev-parse', 'HEAD']) || 'unknown';
const dirty =
  !process.env.EDGEBAN_COMMIT && (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
const info: BuildInfo = { commit, dirty, builtAt: new Date().toISOString() };
writeFileSync(BUILD_INFO_PATH, `${JSON.stringify(info)}\n`);
