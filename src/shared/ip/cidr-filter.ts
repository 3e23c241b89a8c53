import { prefixEquals } from './cidr.js';
import { FAMILY_INVALID, parseCidr, parseIpInto } from './parse.js';

/**
 * A small set of CIDRs asked "does it contain this address?" (syslog.allowed_sources,
 * nginx.trusted_proxies, api.allowed_ips). Lists are short, so a linear scan of prefixes beats
 * anything cleverer; the common case (the same peer again) is one string comparison.
 */
export class CidrFilter {
  private readonly v4: { bytes: Uint8Array; len: number }[] = [];
  private readonly v6: { bytes: Uint8Array; len: number }[] = [];
  private readonly scratch = new Uint8Array(16);
  private lastAllowed = '';

  /** Throws InvalidAddressError on a bad CIDR (a bare address is /32 or /128). */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const p = parseCidr(c);
      (p.family === 4 ? this.v4 : this.v6).push({ bytes: p.bytes, len: p.prefixLen });
    }
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  /** `addr` as Node reports it (`rinfo.address`, `socket.remoteAddress`; v4-mapped allowed). */
  allows(addr: string | undefined): boolean {
    if (addr === undefined) return false;
    if (addr === this.lastAllowed) return true;
    const fam = parseIpInto(addr, this.scratch);
    if (fam === FAMILY_INVALID) return false;
    if (this.containsBytes(this.scratch, fam)) {
      this.lastAllowed = addr;
      return true;
    }
    return false;
  }

  /** Canonical address bytes (4 or 16, v4-mapped already folded). */
  containsBytes(bytes: Uint8Array, family: 4 | 6): boolean {
    const list = family === 4 ? this.v4 : this.v6;
    for (const e of list) if (prefixEquals(bytes, e.bytes, e.len)) return true;
    return false;
  }
}
