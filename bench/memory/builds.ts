/**
 * The builds the memory benchmark compares: this tree, and the code before the engine's records
 * went into typed columns, built from its commit into a temporary git worktree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Build {
  name: string;
  commit: string;
  /** bin/edgeban.js of the build. */
  bin: string;
  cleanup: () => void;
}

const git = (cwd: string, args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * The baseline commit: where this branch left main, or (once merged) the parent of the commit
 * that added the typed-column records. Null outside a git checkout.
 */
export function baselineCommit(repo: string): string | null {
  try {
    const head = git(repo, ['rev-parse', 'HEAD']);
    let base = '';
    try {
      base = git(repo, ['merge-base', 'HEAD', 'main']);
    } catch {
      base = '';
    }
    if (base && base !== head) {
      // main may already hold the work (branch merged and moved on): only a commit without it counts
      const has = git(repo, ['ls-tree', '--name-only', base, 'src/main/engine/records.ts']);
      if (!has) return base;
    }
    const added = git(repo, ['log', '--format=%H', '--diff-filter=A', '--', 'src/main/engine/records.ts'])
      .split('\n')
      .filter(Boolean);
    const first = added[added.length - 1];
    return first ? git(repo, ['rev-parse', `${first}^`]) : null;
  } catch {
    return null;
  }
}

/** Checks out `commit` into a temporary worktree (sharing node_modules) and compiles it. */
export function buildCommit(repo: string, commit: string, name: string): Build {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-base-'));
  const wt = join(dir, 'tree');
  git(repo, ['worktree', 'add', '--detach', wt, commit]);
  const cleanup = () => {
    try {
      git(repo, ['worktree', 'remove', '--force', wt]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const modules = join(repo, 'node_modules');
    if (existsSync(modules)) symlinkSync(modules, join(wt, 'node_modules'));
    execFileSync(process.execPath, [join(modules, 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: wt,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    cleanup();
    throw err;
  }
  return { name, commit, bin: join(wt, 'bin', 'edgeban.js'), cleanup };
}
