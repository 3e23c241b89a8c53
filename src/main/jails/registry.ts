import { globMatch } from './resolve.js';
import { DEFAULT_JAIL, type JailSpec } from './types.js';

/** What the registry needs to know of a pattern (PatternSpec's fields, `success` optional). */
export interface PatternInfo {
  name: string;
  severity?: number;
  /** A successful login of the address: clears its count in the pattern's jail. */
  success?: boolean;
}

/** Where one pattern's matches go. */
export interface PatternRoute<J> {
  jail: J;
  /** What one match counts (1, or the pattern's severity for `weight: severity`, at most max_attempts). */
  weight: number;
  success: boolean;
}

/** `sshd-*` as a whole-name match; `*` any run of characters, `?` one character. */
export const globMatches: (glob: string, name: string) => boolean = globMatch;

/**
 * The jails that claim patterns, in the order they claim them: by name, `source: logs` ones
 * only, the `default` jail apart (it holds what no jail claims).
 */
export function claimOrder<T>(items: readonly T[], specOf: (t: T) => JailSpec): T[] {
  return items
    .filter((t) => specOf(t).name !== DEFAULT_JAIL && specOf(t).source !== 'bans')
    .sort((a, b) => {
      const x = specOf(a).name;
      const y = specOf(b).name;
      return x < y ? -1 : x > y ? 1 : 0;
    });
}

/** The jail names the pattern, or a glob matching it. */
export function claims(spec: JailSpec, pattern: string): boolean {
  return spec.patterns.some((g) => globMatch(g, pattern));
}

/**
 * Pattern name → jail. A pattern belongs to the first enabled `source: logs` jail, in name
 * order, that names it (or a glob matching it); unclaimed patterns go to the default jail.
 * A pattern claimed by a disabled jail counts nowhere (the operator switched that jail off).
 * Routes are resolved on first sight and cached until the jails or patterns change, so the hot
 * path is one Map lookup.
 */
export class JailRouter<J> {
  private readonly cache = new Map<string, PatternRoute<J> | null>();
  private patterns = new Map<string, PatternInfo>();
  private ordered: { spec: JailSpec; jail: J }[] = [];

  constructor(private defaultJail: J) {}

  /** The jails (with the engine's state for each) and the default jail. */
  setJails(jails: readonly { spec: JailSpec; jail: J }[], defaultJail: J): void {
    this.ordered = claimOrder(jails, (j) => j.spec);
    this.defaultJail = defaultJail;
    this.cache.clear();
  }

  setPatterns(patterns: readonly PatternInfo[]): void {
    this.patterns = new Map(patterns.map((p) => [p.name, p]));
    this.cache.clear();
  }

  /** The route of a pattern's matches; null when a disabled jail claims it (nothing counts). */
  route(pattern: string): PatternRoute<J> | null {
    const hit = this.cache.get(pattern);
    if (hit !== undefined) return hit;
    const r = this.resolve(pattern);
    // a flood of distinct unknown names (fleet, replays) must not grow the cache without bound
    if (this.cache.size >= 65_536) this.cache.clear();
    this.cache.set(pattern, r);
    return r;
  }

  private resolve(pattern: string): PatternRoute<J> | null {
    const info = this.patterns.get(pattern);
    const success = info?.success === true;
    for (const { spec, jail } of this.ordered) {
      if (!claims(spec, pattern)) continue;
      if (!spec.enabled) return null;
      const sev = Math.max(1, Math.floor(info?.severity ?? 1));
      const weight = spec.weight === 'severity' ? Math.min(sev, spec.maxAttempts) : 1;
      return { jail, weight, success };
    }
    // the `ban:` policy counts every line once, as before jails
    return { jail: this.defaultJail, weight: 1, success };
  }
}
