import { formatIp, type ParsedCidr, parseCidr } from './parse.js';

/**
 * The one spelling of a ban or list target, and the one containment check between targets.
 * Bans, lists, the store, the API and the fleet all key their maps by this text, so a target
 * written two ways (`10.0.0.1/32`, `::ffff:10.0.0.1`) is one entry everywhere.
 */

/** Text of `bytes/prefixLen` (host bits already clear): a full-length prefix is the bare address. */
export function cidrText(bytes: Uint8Array, family: 4 | 6, prefixLen: number): string {
  const addr = formatIp(bytes, family);
  return prefixLen === (family === 4 ? 32 : 128) ? addr : `${addr}/${prefixLen}`;
}

/** Canonical text of a parsed address or CIDR (see cidrText). */
export function canonicalCidr(c: ParsedCidr): string {
  return cidrText(c.bytes, c.family, c.prefixLen);
}

/** Canonical text of an address or CIDR, or null when it is neither. */
export function canonicalTarget(text: string): string | null {
  try {
    return canonicalCidr(parseCidr(text));
  } catch {
    return null;
  }
}

/** True when the first `len` bits of `a` and `b` are equal (both at least ⌈len/8⌉ bytes). */
export function prefixEquals(a: Uint8Array, b: Uint8Array, len: number): boolean {
  let i = 0;
  for (; len >= 8; len -= 8, i++) if (a[i] !== b[i]) return false;
  if (len === 0) return true;
  const mask = (0xff << (8 - len)) & 0xff;
  return (a[i] & mask) === (b[i] & mask);
}

/** True when `inner` lies inside `outer`: same family, prefix as long or longer, same leading bits. */
export function cidrCovers(outer: ParsedCidr, inner: ParsedCidr): boolean {
  return (
    outer.family === inner.family &&
    inner.prefixLen >= outer.prefixLen &&
    prefixEquals(inner.bytes, outer.bytes, outer.prefixLen)
  );
}
