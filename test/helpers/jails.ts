import type { JailSpec } from '../../src/main/jails/types.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** A jail spec for tests: 3 failures in 10 minutes ban for 1 hour, doubling up to a day, everywhere. */
export function jail(name: string, over: Partial<JailSpec> = {}): JailSpec {
  return {
    name,
    enabled: true,
    patterns: [],
    maxAttempts: 3,
    timeWindow: 10 * MIN,
    initialBanTime: HOUR,
    maxBanTime: 24 * HOUR,
    escalationFactor: 2,
    services: [],
    weight: 'one',
    source: 'logs',
    sourceJails: [],
    mode: 'enforce',
    subnet: null,
    logpath: [],
    origin: 'config',
    ...over,
  };
}
