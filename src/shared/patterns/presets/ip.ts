/**
 * Capture of one IPv4 or IPv6 address in text. Deliberately loose (the matcher validates and
 * canonicalises what it captures with parseIpInto) and free of counted repetition, which V8's
 * linear-time engine limits to 16.
 */
export const IP = '(?<ip>[0-9A-Fa-f:.]*[0-9A-Fa-f])';
