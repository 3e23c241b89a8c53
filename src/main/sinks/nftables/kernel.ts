import { parseCidr } from '../../../shared/ip/parse.js';
import { NftablesUnavailableError } from './errors.js';

/** What nft's output means to the sink: elements it lists, and why it cannot be used. */

/** An element of `nft -j` output: an address or prefix, and its time left (ms; null = none). */
export function kernelElement(
  e: unknown,
  len: number | null = null,
): { key: string; expiresIn: number | null } | null {
  let v = e;
  let expiresIn: number | null = null;
  if (typeof v === 'object' && v !== null && 'elem' in v) {
    const el = (v as { elem: { val?: unknown; expires?: unknown } }).elem;
    v = el.val;
    if (typeof el.expires === 'number') expiresIn = el.expires * 1000;
  }
  let text: string | null = null;
  if (typeof v === 'string') text = v;
  else if (typeof v === 'object' && v !== null && 'prefix' in v) {
    const p = (v as { prefix: { addr?: unknown; len?: unknown } }).prefix;
    if (typeof p.addr === 'string' && typeof p.len === 'number') text = `${p.addr}/${p.len}`;
  }
  if (text === null) return null;
  if (len !== null && !text.includes('/')) text = `${text}/${len}`;
  try {
    return { key: parseCidr(text).text, expiresIn };
  } catch {
    return null;
  }
}

export function familyOf(target: string): 4 | 6 {
  return target.includes(':') ? 6 : 4;
}

/** nft failing at start, as the config key the operator should look at. */
export function unavailableError(err: unknown, nft: string): Error {
  if (err instanceof NftablesUnavailableError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as NodeJS.ErrnoException).code;
  const text = `${e.message} ${(e as { stderr?: string }).stderr ?? ''}`;
  if (code === 'ENOENT' || code === 'EACCES')
    return new NftablesUnavailableError(
      'nftables.nft',
      `cannot run ${JSON.stringify(nft)} (${code}): install nftables, or set nftables.nft ` +
        '(FAIL2BAN_NFTABLES_NFT) to its path, or nftables.enabled: false',
      { cause: e },
    );
  if (/Operation not permitted|Permission denied/i.test(text))
    return new NftablesUnavailableError(
      'nftables.enabled',
      'nft needs CAP_NET_ADMIN (run edgeban as root or give it that capability), or set ' +
        'nftables.enabled: false',
      { cause: e },
    );
  return new NftablesUnavailableError('nftables.enabled', `nft refused the table setup: ${e.message}`, {
    cause: e,
  });
}
