export { BanEngine, type BanEngineOptions } from './engine.js';
export { PrefixTooShortError } from './errors.js';
export type * from './types.js';
