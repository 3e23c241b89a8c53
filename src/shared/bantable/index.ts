export { Kind, type KindCode, LookupResult, Verdict, type VerdictCode } from './api.js';
export { type BanTableHandle, BanTableReader } from './reader.js';
export {
  MAX_SERVICES,
  normalizeService,
  SERVICE_ANY,
  SERVICE_SOME,
  SERVICE_UNSCOPED,
  ServiceNames,
} from './services.js';
export { BanTable, type BanTableEntry, type BanTableStats } from './table.js';
