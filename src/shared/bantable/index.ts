export { Kind, type KindCode, LookupResult, Verdict, type VerdictCode } from './api.js';
export {
  BanTable,
  type BanTableEntry,
  type BanTableHandle,
  BanTableReader,
  type BanTableStats,
} from './table.js';
