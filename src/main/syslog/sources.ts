/** `syslog.allowed_sources` is a plain CIDR filter, checked per datagram and per TCP connection. */
export { CidrFilter as SourceFilter } from '../../shared/ip/cidr-filter.js';
