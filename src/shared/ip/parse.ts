import { InvalidAddressError } from '../errors.js';

/**
 * IP address parsing without allocation on the lookup path.
 *
 * Addresses are written into a caller-owned 16-byte buffer in network order. IPv4 (and
 * IPv4-mapped IPv6, `::ffff:a.b.c.d`, which is the same client) fill bytes 0..3 and return 4;
 * IPv6 fills 0..15 and returns 6; anything else returns 0. Zone ids (`fe80::1%eth0`) are
 * rejected: a ban is about a host, not an interface.
 */
export const FAMILY_INVALID = 0;
export const FAMILY_V4 = 4;
export const FAMILY_V6 = 6;
export type Family = 0 | 4 | 6;

const scratchGroups = new Uint16Array(8);

/** Parse `s[start, end)` into `out`; returns 0, 4 or 6. */
export function parseIpInto(s: string, out: Uint8Array, start = 0, end = s.length): Family {
  if (end - start < 2) return FAMILY_INVALID;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 58 /* : */) return parseV6(s, start, end, out);
    if (c === 46 /* . */) return parseV4(s, start, end, out, 0) ? FAMILY_V4 : FAMILY_INVALID;
  }
  return FAMILY_INVALID;
}

function parseV4(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // a leading zero followed by more digits is ambiguous (octal in some parsers): reject
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part === 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  out[at + 3] = value;
  return true;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseV6(s: string, start: number, end: number, out: Uint8Array): Family {
  const g = scratchGroups;
  let n = 0; // groups written
  let gap = -1; // index in g where '::' was
  let i = start;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return FAMILY_INVALID;
    gap = 0;
    i += 2;
    if (i === end) {
      g.fill(0);
      return finishV6(g, out);
    }
  }
  while (i < end) {
    // one group: up to 4 hex digits, or a trailing dotted IPv4
    let v = 0;
    let digits = 0;
    const groupStart = i;
    while (i < end) {
      const h = hexVal(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // embedded IPv4 takes the last two groups
      if (n > 6) return FAMILY_INVALID;
      const tmp = out;
      if (!parseV4(s, groupStart, end, tmp, 12)) return FAMILY_INVALID;
      g[n++] = (tmp[12] << 8) | tmp[13];
      g[n++] = (tmp[14] << 8) | tmp[15];
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return FAMILY_INVALID;
    g[n++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return FAMILY_INVALID; // includes '%' zone ids
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return FAMILY_INVALID; // a second '::'
      gap = n;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return FAMILY_INVALID; // trailing single ':'
    }
  }
  if (gap < 0) {
    if (n !== 8) return FAMILY_INVALID;
  } else {
    if (n > 7) return FAMILY_INVALID; // '::' must stand for at least one group
    const tail = n - gap;
    for (let k = 0; k < tail; k++) g[7 - k] = g[n - 1 - k];
    for (let k = gap; k < 8 - tail; k++) g[k] = 0;
  }
  return finishV6(g, out);
}

function finishV6(g: Uint16Array, out: Uint8Array): Family {
  // ::ffff:a.b.c.d is the IPv4 client a.b.c.d
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    out[0] = g[6] >> 8;
    out[1] = g[6] & 0xff;
    out[2] = g[7] >> 8;
    out[3] = g[7] & 0xff;
    return FAMILY_V4;
  }
  for (let k = 0; k < 8; k++) {
    out[2 * k] = g[k] >> 8;
    out[2 * k + 1] = g[k] & 0xff;
  }
  return FAMILY_V6;
}

/** Bytes 0..3 of `buf` (from `off`) as an unsigned 32-bit number. */
export function v4ToU32(buf: Uint8Array, off = 0): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** True when the 16 bytes at `off` are an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isV4Mapped(buf: Uint8Array, off = 0): boolean {
  for (let k = 0; k < 10; k++) if (buf[off + k] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(buf: Uint8Array, family: 4 | 6, off = 0): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (buf[off + 2 * k] === 0 && buf[off + 2 * k + 1] === 0) {
      let j = k;
      while (j < 8 && buf[off + 2 * j] === 0 && buf[off + 2 * j + 1] === 0) j++;
      if (j - k > bestLen && j - k >= 2) {
        bestStart = k;
        bestLen = j - k;
      }
      k = j;
    } else {
      k++;
    }
  }
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      s += k === 0 ? '::' : ':';
      k += bestLen - 1;
      continue;
    }
    s += ((buf[off + 2 * k] << 8) | buf[off + 2 * k + 1]).toString(16);
    if (k < 7) s += ':';
  }
  return s;
}

export interface ParsedAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** Canonical text (see formatIp). */
  text: string;
}

export interface ParsedCidr extends ParsedAddress {
  /** 0..32 or 0..128; a bare address has the full length. Host bits are zeroed. */
  prefixLen: number;
}

/** Parse an address for an interface (API, config): throws InvalidAddressError with the reason. */
export function parseIp(input: string): ParsedAddress {
  const s = input.trim();
  if (s.length === 0) throw new InvalidAddressError(input, 'empty');
  if (s.includes('%')) throw new InvalidAddressError(input, 'zone ids are not accepted');
  if (s.includes('/')) throw new InvalidAddressError(input, 'a CIDR where an address is expected');
  const buf = new Uint8Array(16);
  const fam = parseIpInto(s, buf);
  if (fam === FAMILY_INVALID) throw new InvalidAddressError(input, 'not an IPv4 or IPv6 address');
  const bytes = fam === 4 ? buf.slice(0, 4) : buf;
  return { family: fam, bytes, text: formatIp(bytes, fam) };
}

/** Canonical text of an address, or null when it does not parse. */
export function canonicalIp(input: string): string | null {
  try {
    return parseIp(input).text;
  } catch {
    return null;
  }
}

/**
 * Parse `addr` or `addr/len`. Host bits are cleared. An IPv4-mapped IPv6 prefix of length ≥ 96
 * becomes the IPv4 prefix (len − 96).
 */
export function parseCidr(input: string): ParsedCidr {
  const s = input.trim();
  const slash = s.indexOf('/');
  if (slash < 0) {
    const a = parseIp(s);
    return { ...a, prefixLen: a.family === 4 ? 32 : 128 };
  }
  const lenText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) throw new InvalidAddressError(input, 'prefix length is not a number');
  let len = Number(lenText);
  const buf = new Uint8Array(16);
  const addrText = s.slice(0, slash);
  if (addrText.includes('%')) throw new InvalidAddressError(input, 'zone ids are not accepted');
  const fam = parseIpInto(addrText, buf);
  if (fam === FAMILY_INVALID) throw new InvalidAddressError(input, 'not an IPv4 or IPv6 prefix');
  const wasV6Text = addrText.includes(':');
  if (fam === 4 && wasV6Text) {
    if (len > 128) throw new InvalidAddressError(input, 'prefix length above 128');
    if (len < 96) throw new InvalidAddressError(input, 'an IPv4-mapped prefix must be /96 or longer');
    len -= 96;
  }
  const max = fam === 4 ? 32 : 128;
  if (len > max) throw new InvalidAddressError(input, `prefix length above ${max}`);
  const bytes = fam === 4 ? buf.slice(0, 4) : buf;
  maskInPlace(bytes, len);
  return { family: fam, bytes, text: `${formatIp(bytes, fam)}/${len}`, prefixLen: len };
}

/** Clear every bit after the first `prefixLen` bits. */
export function maskInPlace(bytes: Uint8Array, prefixLen: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = prefixLen - i * 8;
    if (keep >= 8) continue;
    bytes[i] = keep <= 0 ? 0 : bytes[i] & (0xff << (8 - keep));
  }
}
