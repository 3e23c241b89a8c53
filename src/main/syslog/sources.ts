import { FAMILY_INVALID, parseCidr, parseIpInto } from '../../shared/ip/parse.js';

/**
 * `syslog.allowed_sources`: the CIDRs allowed to send. Checked per datagram and per TCP
 * connection, so the common case (the same sender again) is one string comparison.
 */
export class SourceFilter {
  private readonly v4: { bytes: Uint8Array; len: number }[] = [];
  private readonly v6: { bytes: Uint8Array; len: number }[] = [];
  private readonly scratch = new Uint8Array(16);
  private lastAllowed = '';

  /** Throws InvalidAddressError on a bad CIDR. */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const p = parseCidr(c);
      (p.family === 4 ? this.v4 : this.v6).push({ bytes: p.bytes, len: p.prefixLen });
    }
  }

  /** `addr` as Node reports it (`rinfo.address`, `socket.remoteAddress`; v4-mapped allowed). */
  allows(addr: string): boolean {
    if (addr === this.lastAllowed) return true;
    const fam = parseIpInto(addr, this.scratch);
    if (fam === FAMILY_INVALID) return false;
    const list = fam === 4 ? this.v4 : this.v6;
    for (const e of list) {
      if (prefixEquals(this.scratch, e.bytes, e.len)) {
        this.lastAllowed = addr;
        return true;
      }
    }
    return false;
  }
}

function prefixEquals(a: Uint8Array, b: Uint8Array, len: number): boolean {
  let i = 0;
  for (; len >= 8; len -= 8, i++) if (a[i] !== b[i]) return false;
  if (len === 0) return true;
  const mask = (0xff << (8 - len)) & 0xff;
  return (a[i] & mask) === (b[i] & mask);
}
