import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Bytes of heap still reachable: a full collection first, so that a memory bound measures what
 * is retained, not how far behind the collector happens to be on a loaded machine.
 */
export function retainedHeap(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

let gc: (() => void) | undefined;

function collect(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    // the flag exposes `gc` only in contexts created after it is set
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
