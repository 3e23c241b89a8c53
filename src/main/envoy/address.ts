import type { CidrFilter } from '../../shared/ip/cidr-filter.js';
import { parseHop, rightmostUntrusted } from '../../shared/ip/forwarding.js';
import { FAMILY_INVALID, type Family, parseIpInto } from '../../shared/ip/parse.js';
import type { CheckInput } from './check-decoder.js';

/**
 * Which client a Check is about. The source socket address is the client as Envoy sees it
 * (Envoy has already applied its own `xff_num_trusted_hops` / `use_remote_address`). Forwarding
 * headers are believed only when `envoy.trust_headers` is set AND the source is a trusted proxy
 * (`envoy.trusted_proxies`); then `x-forwarded-for` is walked right to left, skipping trusted
 * hops, and the first untrusted hop is the client (`x-real-ip` when there is no
 * `x-forwarded-for`). The destination is Envoy's own listener and is never used.
 *
 * Fills `out` (16 bytes) and returns the family, or 0 when there is no usable address: none
 * sent, not an IP (a pipe, a name, garbage), or a forwarding header that does not parse.
 */
export function clientAddress(
  input: CheckInput,
  trustHeaders: boolean,
  trusted: CidrFilter,
  out: Uint8Array,
): Family {
  const src = input.source;
  if (src === null) return FAMILY_INVALID;
  const fam = parseIpInto(src, out);
  if (fam === FAMILY_INVALID || !trustHeaders || !trusted.containsBytes(out, fam)) return fam;
  const xff = input.xff;
  if (xff !== null && xff !== '') return rightmostUntrusted(xff, trusted, out);
  const real = input.realIp;
  if (real !== null && real !== '') return parseHop(real, 0, real.length, out);
  return fam;
}
