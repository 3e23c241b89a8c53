import { type Fail, SessionCache } from '../fail2ban/sessions.js';

/** Sessions the live path keeps, over every session filter (the oldest goes first). */
export const LIVE_SESSIONS_MAX = 10_000;

/** The filter a pattern came from (`f2b-sshd-14a` → `f2b-sshd`): sessions of two filters stay apart. */
export function sessionScope(pattern: string): string {
  const m = /-\d+[a-z]?$/.exec(pattern);
  return m === null ? pattern : pattern.slice(0, m.index);
}

/**
 * fail2ban's `<F-MLFID>` sessions on the main thread, where the matches of every batch arrive in
 * line order: a session pattern's match is decided with its session's earlier lines (the address
 * a context line gave, the failure that waited for one, a login that forgives). Bounded
 * (LIVE_SESSIONS_MAX sessions, two user names each).
 */
export class LiveSessions {
  private readonly cache: SessionCache;
  /** Pattern name → its filter (sessionScope), computed once per name: configured names only. */
  private readonly scopes = new Map<string, string>();
  /** The address of the failure the last `resolve` decided. */
  family: 4 | 6 = 4;
  readonly addr = new Uint8Array(16);

  /** `now`: the clock sessions expire by (tests). */
  constructor(now: () => number = Date.now) {
    this.cache = new SessionCache(LIVE_SESSIONS_MAX, 2, 5 * 60_000, now);
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * A session record of pattern `pattern`: true when the line is a failure of its session's
   * address (then in `family`/`addr`); false when it is context, waits for the address or was
   * forgiven. `session` is the worker's `flags \0 mlfid \0 user`; `family` and `rec[off…]` the
   * line's own address (family 0: it names none).
   */
  resolve(pattern: string, session: string, family: number, rec: Uint8Array, off: number): boolean {
    let scope = this.scopes.get(pattern);
    if (scope === undefined) {
      scope = sessionScope(pattern);
      // names come from the pattern set (bounded by it); a reload's new names add a few more
      if (this.scopes.size >= 65_536) this.scopes.clear();
      this.scopes.set(pattern, scope);
    }
    const a = session.indexOf('\0');
    const b = session.indexOf('\0', a + 1);
    if (a < 0 || b < 0) return false;
    const flags = Number(session.slice(0, a)) | 0;
    const fail: Fail = {};
    if (flags & 1) fail.nofail = 1;
    if (flags & 2) fail.mlfforget = 1;
    if (flags & 4) fail.mlfgained = 1;
    if (b + 1 < session.length) fail.user = session.slice(b + 1);
    if (family === 4 || family === 6) {
      fail.fam = family;
      fail.ip = rec.slice(off, off + (family === 4 ? 4 : 16));
    }
    const merged = this.cache.merge(`${scope}\0${session.slice(a + 1, b)}`, fail);
    if (merged.nofail) return false;
    const ip = merged.ip as Uint8Array | undefined;
    if (ip === undefined) {
      // waits for the address from a later line of the same session
      merged.mlfpending = 1;
      return false;
    }
    this.family = merged.fam as 4 | 6;
    this.addr.set(ip);
    return true;
  }
}
