import { EdgebanError } from '../../shared/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`, `:port` (all IPv4 interfaces) or a bare host (port 514). */
export function parseListenAddress(s: string): ListenAddress {
  const t = s.trim();
  let host: string;
  let portText: string;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) throw new EdgebanError('E_CONFIG', `syslog.address ${JSON.stringify(s)}: missing ']'`);
    host = t.slice(1, close);
    portText = t.slice(close + 1).replace(/^:/, '');
  } else {
    const colons = t.split(':').length - 1;
    if (colons > 1) {
      // a bare IPv6 address without a port
      host = t;
      portText = '';
    } else if (colons === 1) {
      const i = t.lastIndexOf(':');
      host = t.slice(0, i);
      portText = t.slice(i + 1);
    } else {
      host = t;
      portText = '';
    }
  }
  if (host === '') host = '0.0.0.0';
  const port = portText === '' ? 514 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new EdgebanError(
      'E_CONFIG',
      `syslog.address ${JSON.stringify(s)}: bad port ${JSON.stringify(portText)}`,
    );
  }
  return { host, port };
}

/** Which transports `syslog.protocol` asks for (`udp`, `udp4`, `udp6`, `tcp`, `tcp4`, `tcp6`, `both`). */
export function transports(protocol: string): { udp: boolean; tcp: boolean } {
  const p = protocol.trim().toLowerCase();
  if (p === 'both' || p === 'udp+tcp' || p === 'tcp+udp') return { udp: true, tcp: true };
  if (p === 'udp' || p === 'udp4' || p === 'udp6') return { udp: true, tcp: false };
  if (p === 'tcp' || p === 'tcp4' || p === 'tcp6') return { udp: false, tcp: true };
  throw new EdgebanError(
    'E_CONFIG',
    `syslog.protocol ${JSON.stringify(protocol)}: expected udp, tcp or both`,
  );
}

/** Port tried when a privileged port cannot be bound (EACCES): 514 → 5514. */
export function unprivilegedFallback(port: number): number {
  return port < 1024 ? port + 5000 : port;
}
