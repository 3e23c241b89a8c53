import fc from 'fast-check';

/** What the random regexes are made of. */
export interface RegexAlphabet {
  /** Single atoms (characters, classes, escapes, anchors). */
  leaves: readonly string[];
  /** Group openers: each group holds an alternation of two sequences. */
  groups: readonly string[];
  quantifiers: readonly string[];
  /** Atoms a quantifier is not put on (anchors, boundaries). */
  bare: readonly string[];
  /** Most atoms in one sequence. */
  maxSeq: number;
}

/**
 * Small regex sources over a tiny alphabet, so random texts often match them: `seq(depth)`
 * nests groups and quantifiers `depth` deep.
 */
export function smallRegexes(a: RegexAlphabet): fc.Memo<string> {
  const atom: fc.Memo<string> = fc.memo((d) =>
    d <= 0
      ? fc.constantFrom(...a.leaves)
      : fc.oneof(
          { weight: 3, arbitrary: atom(0) },
          fc
            .tuple(seq(d - 1), fc.constantFrom(...a.groups), seq(d - 1))
            .map(([x, open, y]) => `${open}${x}|${y})`),
          fc
            .tuple(atom(d - 1), fc.constantFrom(...a.quantifiers))
            .map(([x, q]) => (a.bare.includes(x) ? x : `(?:${x})${q}`)),
        ),
  );
  const seq: fc.Memo<string> = fc.memo((d) =>
    fc.array(atom(d), { minLength: 1, maxLength: a.maxSeq }).map((xs) => xs.join('')),
  );
  return seq;
}

/** The regex of a random source, or null when JavaScript refuses it (the property skips it). */
export function compiled(src: string, flags: string): RegExp | null {
  try {
    return new RegExp(src, flags);
  } catch {
    return null;
  }
}
