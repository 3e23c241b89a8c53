export { BanEngine, type BanEngineOptions } from './engine.js';
export type * from './types.js';
