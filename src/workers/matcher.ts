/**
 * Piscina matcher worker: batches of syslog lines in, compact match records out (one message
 * each way per batch). Enables V8's linear-time regexp fallback before compiling anything (ReDoS
 * guard, see regexp-engine.ts); the static import order guarantees it runs first.
 */

import { BatchMatcher } from '../shared/patterns/batch-matcher.js';
import type { MatchResult, MatchTask } from '../shared/patterns/protocol.js';
import { enableLinearRegexpEngine } from '../shared/patterns/regexp-engine.js';

enableLinearRegexpEngine();

const matcher = new BatchMatcher();

export default function matchBatch(task: MatchTask): MatchResult {
  return matcher.run(task);
}
