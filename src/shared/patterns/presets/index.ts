import type { PatternSpec } from '../compile.js';
import { builtin, dovecot, nginx, postfix, sogo, sshd } from './builtin.js';
import { referenceCompose, referenceDbSeed, referenceDocs } from './reference.js';

/** Named pattern sets (`edgeban replay --preset NAME`, tests). `builtin` is the default. */
export const PRESETS: Readonly<Record<string, readonly PatternSpec[]>> = {
  builtin,
  dovecot,
  postfix,
  sogo,
  sshd,
  nginx,
  'reference-db-seed': referenceDbSeed,
  'reference-compose': referenceCompose,
  'reference-docs': referenceDocs,
};

/** The patterns to run: the configured ones, or the built-in set when none is configured. */
export function effectivePatterns(configured: readonly PatternSpec[] | undefined): readonly PatternSpec[] {
  return configured && configured.length > 0 ? configured : builtin;
}

export { builtin };
