import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Real peers (design.md, "Real peers"): a test that needs a binary is skipped with a visible
 * reason when it is missing, unless EDGEBAN_E2E=require, where a missing peer is a failure.
 * Returns `false` (run) or the skip reason, for `test(name, { skip: peerMissing('haproxy') }, …)`.
 */
export function peerMissing(...binaries: string[]): string | false {
  const missing = binaries.filter((b) => findBinary(b) === null);
  if (missing.length === 0) return false;
  const reason = `missing real peer: ${missing.join(', ')} (apt-get install it, or run .ci/run)`;
  if (process.env.EDGEBAN_E2E === 'require') throw new Error(`EDGEBAN_E2E=require but ${reason}`);
  return reason;
}

/** Absolute path of a binary on PATH or in the usual sbin folders, or null. */
export function findBinary(name: string): string | null {
  if (name.includes('/')) return existsSync(name) ? name : null;
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
