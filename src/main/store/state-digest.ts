import { sql } from 'kysely';
import type { Link } from './link.js';

/**
 * A fingerprint of the persisted ban state (every row of `bans` and `offences`): counts, sums of
 * the numbers and of the texts' lengths, computed by the database in one scan of each table. Two
 * equal fingerprints mean nobody inserted, deleted or re-timed a row in between; the one edit
 * they miss (a text replaced by another of the same length) the restore that follows a
 * snapshot still finds. Null when the database does not answer.
 */
export async function stateDigest(link: Link): Promise<string | null> {
  const conn = link.current;
  if (!conn || !link.isConnected) return null;
  try {
    // char lengths: the same text has the same length in every dialect
    const len = link.dialect === 'mysql' ? 'char_length' : 'length';
    const text = (c: string) => sql.raw(`coalesce(sum(${len}(${c})), 0)`);
    const bans = await sql<Record<string, unknown>>`
      select count(*) as n,
        coalesce(sum(created_at_ms), 0) as created,
        coalesce(sum(coalesce(expires_at_ms, -1)), 0) as expires,
        coalesce(sum(ban_count), 0) as counts,
        ${text('ip_address')} as ip, ${text('reason')} as reason, ${text('pattern')} as pattern,
        ${text('created_by')} as creator, ${text('node')} as node, ${text('jail')} as jail,
        ${text('services')} as services, ${text('kind')} as kind
      from bans`.execute(conn.db);
    const offences = await sql<Record<string, unknown>>`
      select count(*) as n,
        coalesce(sum(ban_count), 0) as counts,
        coalesce(sum(last_offence_ms), 0) as last,
        ${text('ip_address')} as ip
      from offences`.execute(conn.db);
    // numbers come back as numbers, bigints or decimal text depending on the driver
    const flat = (r: Record<string, unknown> | undefined) =>
      Object.values(r ?? {})
        .map((v) => String(v))
        .join(',');
    return `${flat(bans.rows[0])};${flat(offences.rows[0])}`;
  } catch {
    // a digest is an optimisation: without one the start waits for the whole restore
    return null;
  }
}
