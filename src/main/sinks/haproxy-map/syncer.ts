import type { Logger } from '../../log/logger.js';
import type { LogThrottle } from '../../log/throttle.js';
import { RuntimeApiError, RuntimeConnection, type SocketAddress } from './runtime.js';
import type { BanMapState, MapValue } from './state.js';

/** Bytes of one command line or payload: well inside HAProxy's default 16 kB buffer. */
const CHUNK = 8000;

export interface SyncerOptions {
  /** As configured (`unix:/run/haproxy.sock`, `127.0.0.1:9999`): names the socket in logs and metrics. */
  name: string;
  address: SocketAddress;
  /** The map as HAProxy names it (its file path). */
  map: string;
  state: BanMapState;
  log: Logger;
  throttle: LogThrottle;
  /** Longest wait for an answer or a connection (ms). */
  timeoutMs: number;
  /** Changes queued past this: dropped, and the map is replaced as a whole instead. */
  maxPending: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** A command every this often when idle, so HAProxy's `stats timeout` does not close the socket. */
  keepaliveMs: number;
  /** A batch went out: how many entries, and the age of its oldest change (ms). */
  onBatch?: (entries: number, lagMs: number) => void;
  /** The map was replaced as a whole (entries, ms taken). */
  onFull?: (entries: number, ms: number) => void;
  onError?: (err: Error) => void;
  onUp?: (up: boolean) => void;
}

interface Pending {
  value: MapValue | null;
  at: number;
}

/**
 * Keeps one HAProxy's map in step with the wanted state over one runtime API socket: on every
 * (re)connection the map is replaced atomically (`prepare map`, `add map @ver` in payload
 * chunks, `commit map`), then changes go out in batches (`add map`, `del map`, `set map`) as
 * fast as HAProxy answers, coalesced per target while a batch is in flight. While the socket is
 * down nothing is queued (the next connection replaces everything); reconnects back off
 * exponentially.
 */
export class MapSyncer {
  private conn: RuntimeConnection | null = null;
  private pending = new Map<string, Pending>();
  /** What HAProxy holds, as far as this connection knows: decides add, set or del. */
  private inMap = new Map<string, MapValue>();
  private live = false;
  private busy = false;
  private needFull = false;
  private scheduled = false;
  private stopped = false;
  private lastActivity = 0;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private readonly o: SyncerOptions;

  constructor(o: SyncerOptions) {
    this.o = o;
  }

  /** The wanted state changed (called synchronously from the state's listeners). */
  changed(target: string, value: MapValue | null, at: number): void {
    if (!this.conn) return;
    const p = this.pending.get(target);
    if (p) p.value = value;
    else if (this.pending.size >= this.o.maxPending) {
      // a backlog this long is cheaper sent as one replacement, and memory stays bounded
      this.pending.clear();
      this.needFull = true;
    } else this.pending.set(target, { value, at });
    this.kick();
  }

  get connected(): boolean {
    return this.live;
  }

  /** Changes not yet sent. */
  get backlog(): number {
    return this.pending.size;
  }

  start(): void {
    this.loop = this.run();
    this.keepalive = setInterval(() => {
      if (this.live && !this.busy && Date.now() - this.lastActivity >= this.o.keepaliveMs) this.kick(true);
    }, this.o.keepaliveMs);
    this.keepalive.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.keepalive) clearInterval(this.keepalive);
    this.conn?.close();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let backoff = this.o.backoffMinMs;
    while (!this.stopped) {
      let conn: RuntimeConnection | null = null;
      try {
        conn = await RuntimeConnection.open(this.o.address, this.o.timeoutMs);
        if (this.stopped) break;
        this.conn = conn;
        this.busy = true;
        await this.replace(conn);
        this.busy = false;
        this.live = true;
        this.o.onUp?.(true);
        this.o.log.info(
          { socket: this.o.name, entries: this.inMap.size, master: conn.master },
          'HAProxy map in step',
        );
        backoff = this.o.backoffMinMs;
        this.kick();
        await conn.closed;
      } catch (err) {
        if (!this.stopped) this.failed(err as Error);
      }
      conn?.close();
      if (this.live) this.o.onUp?.(false);
      this.conn = null;
      this.live = false;
      this.busy = false;
      this.pending.clear();
      this.inMap.clear();
      if (this.stopped) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, backoff);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = null;
      backoff = Math.min(backoff * 2, this.o.backoffMaxMs);
    }
  }

  private failed(err: Error): void {
    this.o.onError?.(err);
    this.o.throttle.warn(
      'socket',
      this.o.name,
      { socket: this.o.name, err },
      'HAProxy runtime API socket failed; reconnecting',
    );
  }

  private kick(ping = false): void {
    if (!this.live || this.busy || this.scheduled) return;
    if (!ping && this.pending.size === 0 && !this.needFull) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const conn = this.conn;
    if (!conn || !this.live || this.busy) return;
    this.busy = true;
    try {
      if (this.pending.size === 0 && !this.needFull) await this.expect(conn, 'show version', /./);
      while (this.conn === conn && (this.needFull || this.pending.size > 0)) {
        if (this.needFull) {
          this.needFull = false;
          this.pending.clear();
          await this.replace(conn);
          continue;
        }
        const batch = this.pending;
        this.pending = new Map();
        await this.apply(conn, batch);
      }
    } catch (err) {
      // the connection is no good any more: the loop reconnects and replaces the map
      if (!this.stopped) this.failed(err as Error);
      conn.close();
    } finally {
      this.busy = false;
      this.lastActivity = Date.now();
    }
  }

  /** Replace the whole map atomically with the wanted state. */
  private async replace(conn: RuntimeConnection): Promise<void> {
    const t0 = Date.now();
    const map = this.o.map;
    const ans = await conn.command(`prepare map ${map}`);
    const ver = /New version created: (\d+)/.exec(ans)?.[1];
    if (!ver) throw new RuntimeApiError(`prepare map ${map}: ${ans.slice(0, 200)}`);
    // changes from here on are queued and applied on top of this snapshot
    const snapshot = new Map(this.o.state.entries);
    this.pending.clear();
    const lines: string[] = [];
    for (const [k, v] of snapshot) lines.push(`${k} ${v}`);
    for (const chunk of payloadChunks(lines)) await this.ok(conn, `add map @${ver} ${map} <<\n${chunk}\n`);
    await this.ok(conn, `commit map @${ver} ${map}`);
    this.inMap = snapshot;
    this.o.onFull?.(snapshot.size, Date.now() - t0);
  }

  private async apply(conn: RuntimeConnection, batch: Map<string, Pending>): Promise<void> {
    const map = this.o.map;
    const adds: string[] = [];
    const sets: string[] = [];
    const dels: string[] = [];
    let oldest = Number.POSITIVE_INFINITY;
    for (const [k, p] of batch) {
      if (p.at < oldest) oldest = p.at;
      const had = this.inMap.get(k);
      if (p.value === null) {
        if (had !== undefined) dels.push(`del map ${map} ${k}`);
      } else if (had === undefined) adds.push(`${k} ${p.value}`);
      else if (had !== p.value) sets.push(`set map ${map} ${k} ${p.value}`);
    }
    for (const chunk of payloadChunks(adds)) await this.ok(conn, `add map ${map} <<\n${chunk}\n`);
    for (const line of joinedChunks(sets)) await this.ok(conn, line);
    for (const line of joinedChunks(dels)) await this.ok(conn, line);
    for (const [k, p] of batch) {
      if (p.value === null) this.inMap.delete(k);
      else this.inMap.set(k, p.value);
    }
    if (batch.size > 0) this.o.onBatch?.(batch.size, Date.now() - oldest);
  }

  /** A command that answers nothing when it worked; anything else is logged and forces a replace. */
  private async ok(conn: RuntimeConnection, line: string): Promise<void> {
    const ans = await conn.command(line);
    if (ans === '') return;
    this.needFull = true;
    const err = new RuntimeApiError(`${line.slice(0, line.indexOf(' ', 10))}: ${ans.slice(0, 200)}`);
    this.o.onError?.(err);
    this.o.throttle.warn(
      'answer',
      this.o.name,
      { socket: this.o.name, err },
      'HAProxy refused a map change; the map will be replaced',
    );
  }

  private async expect(conn: RuntimeConnection, line: string, re: RegExp): Promise<void> {
    const ans = await conn.command(line);
    if (!re.test(ans)) throw new RuntimeApiError(`${line}: ${ans.slice(0, 200)}`);
  }
}

/** Payload bodies (`key value` lines) of at most CHUNK bytes each. */
function payloadChunks(lines: string[]): string[] {
  const out: string[] = [];
  let cur = '';
  for (const l of lines) {
    if (cur.length + l.length + 1 > CHUNK && cur !== '') {
      out.push(cur);
      cur = '';
    }
    cur += `${l}\n`;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** Commands joined by `;` into lines of at most CHUNK bytes. */
function joinedChunks(cmds: string[]): string[] {
  const out: string[] = [];
  let cur = '';
  for (const c of cmds) {
    if (cur.length + c.length + 1 > CHUNK && cur !== '') {
      out.push(cur);
      cur = '';
    }
    cur = cur === '' ? c : `${cur};${c}`;
  }
  if (cur !== '') out.push(cur);
  return out;
}
