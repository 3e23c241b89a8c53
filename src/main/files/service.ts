import { type FSWatcher, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/types.js';
import type { IngestPipeline } from '../ingest/pipeline.js';
import type { Logger } from '../log/logger.js';
import { LogThrottle } from '../log/throttle.js';
import type { AppContext, Service } from '../service.js';
import { stateFile } from '../store/state-file.js';
import { LineBatcher } from '../syslog/batcher.js';
import { FileFollower, FileSourceCounters } from './follower.js';
import { expandGlob, isGlob } from './glob.js';
import { registerFileMetrics } from './metrics.js';
import { PositionStore } from './positions.js';
import { type FileSourceSpec, MAX_FILES, POLL_MS, SAVE_EVERY_MS } from './types.js';

/** The file the read positions are kept in, beside the SQLite database (else the working folder). */
export const POSITIONS_FILE = 'edgeban-file-positions.json';

/** Gap between a watch event and the glob re-scan it causes (events come in bursts). */
const RESCAN_DELAY_MS = 50;

interface Source {
  spec: FileSourceSpec;
  counters: FileSourceCounters;
  prefix: Buffer | null;
  /** Which patterns read its lines (a jail's logpath: that jail's; else syslog's, route 0). */
  route: number;
}

export function positionsFile(config: Config, cwd = process.cwd()): string {
  return stateFile(config, POSITIONS_FILE, cwd);
}

/**
 * Log files as an input beside syslog (`files:`, and jails' `logpath`): each configured path or
 * glob is followed (fs.watch, backed by a 1 s poll), its lines go through the syslog batcher
 * into the same matcher pipeline (same patterns, counting and metrics), read positions are
 * remembered across restarts. Reading is flow-controlled: while the matchers are behind, files
 * are not read (they hold the lines), so nothing is shed.
 */
export class FileSourcesService implements Service {
  readonly name = 'files';
  private readonly sources = new Map<string, Source>();
  /** By file path; each belongs to the first source that named it. */
  private readonly followers = new Map<string, { f: FileFollower; source: Source }>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** One batcher per route in use: a batch holds the lines of one route only. */
  private readonly batchers = new Map<number, LineBatcher>();
  /** Route of each jail logpath entry (IngestService.routes). */
  private routes: ReadonlyMap<string, number> = new Map();
  private positions: PositionStore | null = null;
  private timer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private started = false;
  private scanning = false;
  private watchBroken = false;
  private readonly log: Logger;
  private readonly throttle: LogThrottle;
  private config: Config;
  /** `files:` of the config. */
  private configured: FileSourceSpec[] = [];
  /** Given at run time (addFileSource / setFileSources). */
  private extra: FileSourceSpec[] = [];

  constructor(
    ctx: AppContext,
    private readonly pipeline: () => IngestPipeline | null,
  ) {
    this.config = ctx.config;
    this.log = ctx.log.child({ subsystem: 'files' });
    this.throttle = new LogThrottle(this.log);
    this.configured = [...ctx.config.files];
    for (const s of this.configured) this.addSource(s);
    registerFileMetrics(
      ctx.metrics.registry,
      () => new Map([...this.sources].map(([k, s]) => [k, s.counters])),
      () => this.followers.size,
    );
  }

  /**
   * The jails' logpath entries and their routes: each becomes a source (read from its end at
   * first, as fail2ban does) whose lines only the jail's patterns read. A source whose route
   * changed is followed again from its remembered position with the new route.
   */
  async setJailPaths(routes: ReadonlyMap<string, number>): Promise<void> {
    this.routes = routes;
    for (const [path, src] of this.sources) {
      const route = routes.get(path) ?? 0;
      if (route === src.route) continue;
      src.route = route;
      // its files follow on the next scan, from where they stopped, into the new route's batches
      for (const [file, e] of this.followers)
        if (e.source === src) {
          this.followers.delete(file);
          await e.f.close();
        }
    }
    await this.setFileSources(
      [...routes.keys()].map((path) => ({ path, format: 'syslog', tag: '', from: 'end' }) as const),
    );
  }

  /** Follows one more path or glob (a jail's `logpath`); the same path twice is one source. */
  async addFileSource(spec: FileSourceSpec): Promise<void> {
    if (this.extra.some((s) => s.path === spec.path)) return;
    this.extra = [...this.extra, spec];
    await this.sync();
  }

  /**
   * The sources given at run time (jails' `logpath`), as a whole new list; `files:` in the config
   * is kept apart (a config reload does not drop these, nor these the config's). Sources no longer
   * named stop being followed; their positions are kept.
   */
  async setFileSources(specs: readonly FileSourceSpec[]): Promise<void> {
    this.extra = [...specs];
    await this.sync();
  }

  /** Follows the config's sources and the run-time ones (the config's first when both name a path). */
  private async sync(): Promise<void> {
    const specs: FileSourceSpec[] = [];
    for (const s of [...this.configured, ...this.extra])
      if (!specs.some((x) => x.path === s.path)) specs.push(s);
    const want = new Set(specs.map((s) => s.path));
    for (const [path, src] of this.sources) {
      const same = specs.find((s) => s.path === path);
      if (!want.has(path) || (same && !sameSpec(same, src.spec))) {
        this.sources.delete(path);
        for (const [file, e] of this.followers)
          if (e.source === src) {
            this.followers.delete(file);
            await e.f.close();
          }
      }
    }
    for (const s of specs) if (!this.sources.has(s.path)) this.addSource(s);
    if (this.started) this.scan(false);
  }

  /** Counters of each source (tests, the console). */
  counters(): ReadonlyMap<string, FileSourceCounters> {
    return new Map([...this.sources].map(([k, s]) => [k, s.counters]));
  }

  private addSource(spec: FileSourceSpec): void {
    if (this.sources.has(spec.path)) return;
    const prefix = spec.format === 'plain' ? Buffer.from(`<13>${spec.tag}: `) : null;
    const route = this.routes.get(spec.path) ?? 0;
    this.sources.set(spec.path, { spec, counters: new FileSourceCounters(), prefix, route });
  }

  /** The batcher of a route, made when its first file is followed. */
  private batcherFor(route: number): LineBatcher | null {
    const had = this.batchers.get(route);
    if (had !== undefined) return had;
    const pipeline = this.pipeline();
    if (pipeline === null || !this.started) return null;
    const cfg = this.config.syslog;
    const b = new LineBatcher(cfg.batch_size, cfg.batch_delay, (buf, count, timeMs) =>
      pipeline.submitFlowControlled(buf, count, timeMs, route),
    );
    b.setIdleCheck(() => pipeline.idleNow);
    pipeline.onDrained(() => b.kick());
    this.batchers.set(route, b);
    return b;
  }

  start(): void {
    const pipeline = this.pipeline();
    if (pipeline === null) throw new Error('files: the ingest pipeline is not running');
    const file = positionsFile(this.config);
    this.positions = new PositionStore(file, SAVE_EVERY_MS, (err) =>
      this.throttle.warn(
        'positions',
        file,
        { err, file },
        'files: the read positions cannot be saved or read',
      ),
    );
    this.started = true;
    this.batcherFor(0);
    this.scan(true);
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
    if (this.sources.size > 0)
      this.log.info(
        { sources: [...this.sources.keys()], files: [...this.followers.keys()], positions: file },
        'File sources started',
      );
  }

  private tick(): void {
    this.scan(false);
    for (const { f } of this.followers.values()) void f.poll();
  }

  /** Expands every source; new files get a follower (read from their start unless `initial`). */
  private scan(initial: boolean): void {
    if (!this.started || this.scanning) return;
    this.scanning = true;
    try {
      const seen = new Set<string>();
      // a jail's logpath claims its files before a `files:` glob that names them too
      const order = [...this.sources.values()].sort((a, b) => (b.route > 0 ? 1 : 0) - (a.route > 0 ? 1 : 0));
      for (const src of order) {
        const room = MAX_FILES - this.followers.size;
        const { files, more } = expandGlob(src.spec.path, Math.max(0, room) + this.countOf(src));
        if (more || (room <= 0 && files.some((f) => !this.followers.has(f))))
          this.throttle.warn(
            'too-many-files',
            src.spec.path,
            { source: src.spec.path, max: MAX_FILES },
            `files: more than ${MAX_FILES} files to follow; the rest are ignored`,
          );
        for (const file of files) {
          seen.add(file);
          if (this.followers.has(file) || this.followers.size >= MAX_FILES) continue;
          if (this.heldElsewhere(file)) continue;
          this.follow(file, src, initial && src.spec.from === 'end');
        }
        if (!isGlob(src.spec.path)) this.watchDir(dirname(src.spec.path));
        else this.watchGlobBase(src.spec.path);
      }
      // a file that is gone and not matched any more, with nothing left to finish, is dropped
      for (const [file, e] of this.followers)
        if (!seen.has(file) && e.f.idle && !exists(file)) {
          this.followers.delete(file);
          void e.f.close();
        }
    } finally {
      this.scanning = false;
    }
  }

  private countOf(src: Source): number {
    let n = 0;
    for (const e of this.followers.values()) if (e.source === src) n++;
    return n;
  }

  /** A rotated file renamed into a glob's reach while another follower still drains it. */
  private heldElsewhere(file: string): boolean {
    let st: { dev: number; ino: number };
    try {
      st = statSync(file);
    } catch {
      return true;
    }
    for (const { f } of this.followers.values()) if (f.holds(st.dev, st.ino)) return true;
    return false;
  }

  private follow(file: string, src: Source, fromEnd: boolean): void {
    const pipeline = this.pipeline();
    const batcher = this.batcherFor(src.route);
    const positions = this.positions;
    if (pipeline === null || batcher === null || positions === null) return;
    const f = new FileFollower(file, fromEnd, {
      batcher,
      prefix: src.prefix,
      maxLen: this.config.syslog.max_line_length,
      counters: src.counters,
      positions,
      congested: () => pipeline.congested,
      whenRoom: () => pipeline.whenRoom(),
      onError: (path, err) =>
        this.throttle.warn('unreadable', path, { err, path }, 'files: a log file cannot be read'),
    });
    this.followers.set(file, { f, source: src });
    this.watchDir(dirname(file));
    void f.poll();
  }

  /** The deepest folder of a glob without wildcards: new files under it trigger a re-scan. */
  private watchGlobBase(pattern: string): void {
    const segs = pattern.split('/');
    let i = 0;
    while (i < segs.length && !isGlob(segs[i])) i++;
    // only when the wildcard is in the file name itself; deeper globs rely on the poll
    if (i === segs.length - 1) this.watchDir(segs.slice(0, i).join('/') || '/');
  }

  private watchDir(dir: string): void {
    if (this.watchBroken || this.watchers.has(dir) || !exists(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, () => this.onEvent(dir));
      w.on('error', (err) => {
        this.watchers.delete(dir);
        w.close();
        this.throttle.warn('watch', dir, { err, dir }, 'files: watching a folder failed; polling it');
      });
      this.watchers.set(dir, w);
    } catch (err) {
      // inotify limits: the poll still follows everything, a second later
      this.watchBroken = true;
      this.log.warn({ err, dir }, 'files: fs.watch unavailable; following files by polling every second');
    }
  }

  private onEvent(dir: string): void {
    for (const [file, { f }] of this.followers) if (dirname(file) === dir) void f.poll();
    if (this.rescanTimer === null) {
      this.rescanTimer = setTimeout(() => {
        this.rescanTimer = null;
        this.scan(false);
      }, RESCAN_DELAY_MS);
      this.rescanTimer.unref();
    }
  }

  async reload(config: Config): Promise<void> {
    this.config = config;
    this.configured = [...config.files];
    await this.sync();
  }

  /** Reads every followed file to its current end and hands the lines on (tests, drain). */
  async pollAll(): Promise<void> {
    await Promise.all([...this.followers.values()].map(({ f }) => f.poll()));
    for (const b of this.batchers.values()) b.flush();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.rescanTimer !== null) clearTimeout(this.rescanTimer);
    this.timer = null;
    this.rescanTimer = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await Promise.all([...this.followers.values()].map(({ f }) => f.close()));
    this.followers.clear();
    for (const b of this.batchers.values()) b.close();
    this.batchers.clear();
    this.positions?.close();
    this.throttle.close();
  }
}

function sameSpec(a: FileSourceSpec, b: FileSourceSpec): boolean {
  return a.path === b.path && a.format === b.format && a.tag === b.tag && a.from === b.from;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
