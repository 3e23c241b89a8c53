/**
 * Fleet-wide counting messages: the failures one node counted in one interval, summed per
 * (jail, target), as signed JSON NOTIFY payloads under PostgreSQL's 8000-byte limit:
 * `<HMAC-SHA256 base64url>.{"v":1,"node":…,"at":…,"jails":[…],"f":[[jail index, target,
 * weight, ms before at],…]}`. The HMAC covers a prefix of its own, so a ban message can never
 * pass for a count message nor the other way round. A message with any bad field is refused
 * whole, with a reason.
 */
import { createHmac } from 'node:crypto';
import { canonicalTarget } from '../../shared/ip/cidr.js';
import { FleetMessageError, MAX_AGE_MS, MAX_PAYLOAD, openSigned } from './messages.js';

export interface RemoteFailure {
  jail: string;
  /** Canonical address or CIDR. */
  target: string;
  weight: number;
  /** unix ms of the last failure summed in. */
  at: number;
}

export interface CountMessage {
  node: string;
  failures: RemoteFailure[];
}

const VERSION = 1;
const SIG_LENGTH = 44;
/** Most jail names and failures one message may carry (a payload holds a few hundred at most). */
const MAX_JAILS = 1024;
const MAX_ENTRIES = 4096;
const MAX_JAIL_NAME = 128;
/** Most failures one entry may carry (a sum over one interval). */
const MAX_WEIGHT = 1_000_000;

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update('edgeban-counts\0').update(body).digest('base64url');
}

/**
 * The signed payloads carrying `failures` (entries [jail index, target, weight, at]) counted on
 * `node`, each under MAX_PAYLOAD bytes. `jails` names the indexes; each payload lists the names.
 */
export function encodeCounts(
  key: Buffer,
  node: string,
  jails: readonly string[],
  failures: Iterable<readonly [number, string, number, number]>,
  now = Date.now(),
): string[] {
  const head = `{"v":${VERSION},"node":${JSON.stringify(node)},"at":${now},"jails":${JSON.stringify(jails)},"f":[`;
  const out: string[] = [];
  const empty = SIG_LENGTH + Buffer.byteLength(head) + 2;
  let items = '';
  let bytes = empty;
  for (const [j, target, weight, at] of failures) {
    // targets are canonical address text: ASCII, so its length is its byte count
    const item = `[${j},"${target}",${weight},${Math.round(now - at)}]`;
    if (items !== '' && bytes + item.length + 1 > MAX_PAYLOAD) {
      const body = `${head}${items}]}`;
      out.push(`${sign(key, body)}.${body}`);
      items = '';
      bytes = empty;
    }
    items = items === '' ? item : `${items},${item}`;
    bytes += item.length + 1;
  }
  if (items !== '') {
    const body = `${head}${items}]}`;
    out.push(`${sign(key, body)}.${body}`);
  }
  return out;
}

/** Verifies, parses and checks one payload. Throws FleetMessageError naming what is wrong. */
export function decodeCounts(key: Buffer, payload: string, now = Date.now()): CountMessage {
  if (payload.length > 8000) throw new FleetMessageError('payload too long');
  const o = openSigned(payload, (body) => sign(key, body), now);
  const at = o.at;
  const jails = o.jails;
  if (
    !Array.isArray(jails) ||
    jails.length > MAX_JAILS ||
    !jails.every((j) => typeof j === 'string' && j !== '' && j.length <= MAX_JAIL_NAME)
  )
    throw new FleetMessageError('jails is not a list of jail names');
  if (!Array.isArray(o.f) || o.f.length > MAX_ENTRIES)
    throw new FleetMessageError('f is not a list of failures');
  const failures = o.f.map((w: unknown, i): RemoteFailure => {
    const bad = (what: string) => new FleetMessageError(`failure ${i}: ${what}`);
    if (!Array.isArray(w) || w.length !== 4) throw bad('not a list of 4');
    const [j, t, weight, ago] = w;
    if (!Number.isInteger(j) || j < 0 || j >= jails.length) throw bad('unknown jail index');
    if (typeof t !== 'string' || t.length > 64) throw bad('target is not a string');
    const target = canonicalTarget(t);
    if (target === null) throw bad(`invalid target ${JSON.stringify(t)}`);
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) throw bad('bad weight');
    if (!Number.isInteger(ago) || Math.abs(ago) > MAX_AGE_MS) throw bad('bad time');
    return { jail: jails[j] as string, target, weight, at: at - ago };
  });
  return { node: o.node, failures };
}
