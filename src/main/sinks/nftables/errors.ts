import { EdgebanError } from '../../../shared/errors.js';

/** nft cannot be used at all: not installed, no CAP_NET_ADMIN, a table that is not edgeban's. */
export class NftablesUnavailableError extends EdgebanError {
  /** The config key the operator should look at. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('E_NFTABLES_UNAVAILABLE', `${key}: ${message}`, options);
    this.key = key;
  }
}

/** One `nft -f -` run failed; the sink resyncs the sets on its next batch. */
export class NftablesBatchError extends EdgebanError {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(exitCode: number | null, stderr: string, options?: { cause?: unknown }) {
    super('E_NFTABLES_BATCH', `nft failed (exit ${exitCode ?? 'signal'}): ${firstLines(stderr)}`, options);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

function firstLines(s: string): string {
  const t = s.trim().split('\n').slice(0, 3).join(' | ');
  return t.length > 400 ? `${t.slice(0, 400)}…` : t || '(no output)';
}
