import type { Quarantine } from './pool.js';

/** What the REST API shows and changes about the running patterns, without holding the ingest service. */
export interface PatternHealth {
  /** Quarantined patterns by name (run-time ReDoS guard). */
  quarantined(): ReadonlyMap<string, Quarantine>;
  /** Lift a quarantine (the pattern runs again); false when the pattern is not quarantined. */
  lift(name: string): boolean;
}

/**
 * The ingest service registers its PatternHealth under the ban engine it feeds; the API, which
 * holds the same engine, finds it here. Weak, so an app that is gone leaves nothing behind.
 */
const byOwner = new WeakMap<object, PatternHealth>();

export function registerPatternHealth(owner: object, h: PatternHealth): void {
  byOwner.set(owner, h);
}

export function patternHealthOf(owner: object): PatternHealth | null {
  return byOwner.get(owner) ?? null;
}
