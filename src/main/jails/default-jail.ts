import type { BanPolicy } from '../engine/types.js';
import { DEFAULT_JAIL, type JailSpec } from './types.js';

/** The `ban:` policy as the jail of every pattern no jail claims. */
export function defaultJail(p: BanPolicy): JailSpec {
  return {
    name: DEFAULT_JAIL,
    enabled: true,
    patterns: [],
    maxAttempts: p.maxAttempts,
    timeWindow: p.timeWindow,
    initialBanTime: p.initialBanTime,
    maxBanTime: p.maxBanTime,
    escalationFactor: p.escalationFactor,
    services: [],
    weight: 'one',
    source: 'logs',
    sourceJails: [],
    mode: 'enforce',
    subnet: null,
    logpath: [],
    origin: 'default',
  };
}
