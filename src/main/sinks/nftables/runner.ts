import { spawn } from 'node:child_process';
import { NftablesBatchError } from './errors.js';

/** What one `nft` run gave back. */
export interface NftResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Longest stderr/stdout kept from one run: nft echoes the failing line of a huge script. */
const MAX_OUTPUT = 64 * 1024;

/**
 * Runs `nft` once with `args`, `input` on its stdin. A script given to `nft -f -` is one
 * transaction: the kernel applies all of it or none. Resolves with the exit code; rejects only
 * when the binary cannot be started (ENOENT, EACCES) or runs past `timeoutMs`.
 */
export function runNft(nft: string, args: string[], input: string, timeoutMs = 30_000): Promise<NftResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(nft, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new NftablesBatchError(null, `nft ran longer than ${timeoutMs} ms and was killed`));
    }, timeoutMs);
    p.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString();
    });
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // nft that exits early (bad first line) closes its stdin: the rest of the script is moot
    p.stdin.on('error', () => {});
    p.stdin.end(input);
  });
}

/** `nft -f -` with the script; throws NftablesBatchError when nft refuses it. */
export async function applyScript(nft: string, script: string, timeoutMs?: number): Promise<void> {
  const r = await runNft(nft, ['-f', '-'], script, timeoutMs);
  if (r.code !== 0) throw new NftablesBatchError(r.code, r.stderr);
}
