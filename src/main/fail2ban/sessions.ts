/** The groups of one line (or of a session, merged), as fail2ban's failure dictionary holds them. */
export type Fail = Record<string, unknown>;

/**
 * fail2ban's `<F-MLFID>` session cache (its _mergeFailure): the groups of the lines of one
 * session (`sshd[1234]`) merged, with its flags: `nofail` (a context line: not a failure),
 * `mlfforget` (the session ends), `mlfgained` (the session logged in: what it failed before is
 * forgiven), `mlfpending` (a failure that waits for the session's address). Bounded: past `max`
 * sessions the oldest goes; and a session is forgotten `maxAgeMs` after its first line (5 minutes,
 * as in fail2ban), so that a process id used again later does not inherit an old address.
 */
export class SessionCache {
  /** mlfid → [expiry (unix ms), the session's groups], oldest first. */
  private readonly sessions = new Map<string, [number, Fail]>();

  /**
   * `max`: sessions kept. `maxUsers`: user names kept per session; fail2ban keeps them all, but
   * only "more than one" changes a verdict, so the live path keeps two (a session that logs a
   * million user names holds two).
   */
  constructor(
    private readonly max = 1000,
    private readonly maxUsers = Number.POSITIVE_INFINITY,
    private readonly maxAgeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Merges a line's groups into its session and returns the session's groups (fail2ban's rules). */
  merge(mlfid: string, failIn: Fail): Fail {
    let fail = failIn;
    const entry = this.sessions.get(mlfid);
    const t = this.now();
    let known: Fail | undefined;
    if (entry !== undefined) {
      if (entry[0] > t) known = entry[1];
      else this.sessions.delete(mlfid);
    }
    let users: Set<unknown> | undefined;
    let nf = 0;
    if (fail.mlfgained) {
      nf |= 8 | 1;
      if (!fail.nofail) fail.nofail = fail.mlfgained;
    } else if (fail.nofail) nf |= 1;
    if (fail.mlfforget) nf |= 2;
    delete fail.mlfforget;
    if (known !== undefined) {
      users = this.addUser(known, fail.user);
      if (known.nofail) nf |= 4;
      delete known.nofail;
      if (known.mlfgained) nf |= 4;
      delete known.mlfgained;
      if (nf & 8) delete known.mlfpending;
      for (const [k, val] of Object.entries(fail)) if (val !== undefined) known[k] = val;
      fail = known;
      if (nf & 2) this.sessions.delete(mlfid);
    } else if (!(nf & 2)) {
      users = this.addUser(fail, fail.user);
      if (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value as string);
      this.sessions.set(mlfid, [t + this.maxAgeMs, fail]);
    }
    if (fail.mlfpending || (users !== undefined && users.size > 1)) {
      delete fail.mlfpending;
      delete fail.nofail;
      delete fail.mlfgained;
    }
    return fail;
  }

  private addUser(fail: Fail, user: unknown): Set<unknown> | undefined {
    let users = fail.users as Set<unknown> | undefined;
    if (user) {
      if (users === undefined) {
        users = new Set();
        fail.users = users;
      }
      if (users.size < this.maxUsers) users.add(user);
    }
    return users;
  }
}
