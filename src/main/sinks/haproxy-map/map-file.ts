import { rename, writeFile } from 'node:fs/promises';
import { type MapValue, mapFileText } from './state.js';

/**
 * The map file HAProxy loads at start and on reload, rewritten atomically (a temporary file in
 * the same folder, then rename) so a reload never sees half a file and starts with the current
 * bans. The first change after a quiet spell is written at once, then at most once per
 * `intervalMs` while the bans keep changing.
 */
export class MapFileWriter {
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private lastWrite = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly path: string,
    private readonly entries: Map<string, MapValue>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
    private readonly onWritten?: () => void,
  ) {}

  /** Something changed: write within `intervalMs`. */
  touch(): void {
    this.dirty = true;
    if (this.timer || this.writing) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, wait);
    this.timer.unref();
  }

  /** Write now (start, stop). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) await this.writing;
    this.dirty = true;
    await this.write();
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.path}.edgeban-tmp`;
    this.lastWrite = Date.now();
    this.writing = (async () => {
      try {
        await writeFile(tmp, mapFileText(this.entries), { mode: 0o644 });
        await rename(tmp, this.path);
        this.onWritten?.();
      } catch (err) {
        this.onError(err as Error);
      }
    })();
    await this.writing;
    this.writing = null;
    if (this.dirty) this.touch();
  }
}
