import { Gauge, type Registry } from 'prom-client';
import { counterFeed } from '../metrics/feed.js';

/**
 * Receiver and pipeline counters. Plain numbers on the hot path; Prometheus reads them on scrape
 * (`edgeban_syslog_*`).
 */
export class SyslogStats {
  udpDatagrams = 0;
  udpLines = 0;
  tcpLines = 0;
  tcpConnections = 0;
  rejectedUdp = 0;
  rejectedTcp = 0;
  truncated = 0;
  shedLines = 0;
  shedBatches = 0;
  parseFailures = 0;
  framingErrors = 0;
  quarantined = 0;
}

/** Registers `edgeban_syslog_*` on `registry` (once per registry; a second call reuses them). */
export function registerSyslogMetrics(registry: Registry, stats: () => SyslogStats): void {
  if (registry.getSingleMetric('edgeban_syslog_lines_total')) return;
  // one source per label value, read from the current stats object at each scrape
  const counter = (
    name: string,
    help: string,
    read: (s: SyslogStats) => Record<string, number>,
    label?: string,
  ) => {
    const feed = counterFeed(registry, name, help, label ? [label] : []);
    for (const k of Object.keys(read(new SyslogStats()))) {
      if (label) feed.add(() => read(stats())[k], { [label]: k });
      else feed.add(() => read(stats())[k]);
    }
  };
  counter('edgeban_syslog_datagrams_total', 'UDP datagrams accepted', (s) => ({ _: s.udpDatagrams }));
  counter(
    'edgeban_syslog_lines_total',
    'Syslog lines received, by transport',
    (s) => ({ udp: s.udpLines, tcp: s.tcpLines }),
    'transport',
  );
  counter(
    'edgeban_syslog_rejected_sources_total',
    'Datagrams and TCP connections dropped because the sender is outside syslog.allowed_sources',
    (s) => ({ udp: s.rejectedUdp, tcp: s.rejectedTcp }),
    'transport',
  );
  counter('edgeban_syslog_truncated_total', 'Lines longer than syslog.max_line_length, cut', (s) => ({
    _: s.truncated,
  }));
  counter('edgeban_syslog_shed_lines_total', 'Lines dropped because the matcher pool fell behind', (s) => ({
    _: s.shedLines,
  }));
  counter('edgeban_syslog_parse_failures_total', 'Lines without a recognisable syslog header', (s) => ({
    _: s.parseFailures,
  }));
  counter('edgeban_syslog_framing_errors_total', 'TCP streams with a broken octet-counting frame', (s) => ({
    _: s.framingErrors,
  }));
  counter('edgeban_patterns_quarantined_total', 'Patterns disabled by the run-time ReDoS guard', (s) => ({
    _: s.quarantined,
  }));
  const g: Gauge<string> = new Gauge({
    name: 'edgeban_syslog_tcp_connections',
    help: 'Open syslog TCP connections',
    registers: [registry],
    collect() {
      g.set(stats().tcpConnections);
    },
  });
}
