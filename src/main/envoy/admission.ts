import { CidrFilter } from '../../shared/ip/cidr-filter.js';

/** The limits of the ext_authz port; the `envoy.*` keys of the same names. */
export interface EnvoyLimits {
  allowed_sources: readonly string[];
  max_connections: number;
  max_connections_per_source: number;
  max_open_streams: number;
}

export type ConnectionVerdict = 'ok' | 'source' | 'max_connections' | 'max_connections_per_source';

/**
 * Who may hold connections and streams on the ext_authz port. The port has no authentication of
 * its own, so what one peer can take is bounded: the sources it may come from, the connections it
 * may hold, and the streams all peers together may have open (each costs nghttp2 state and, for
 * an unfinished Check, buffered bytes). Envoy keeps a few long-lived connections per worker and
 * multiplexes every check on them, so newcomers over a limit are refused rather than older
 * connections evicted: an old connection is the one carrying traffic.
 */
export class EnvoyAdmission {
  private sources: CidrFilter;
  private limits: EnvoyLimits;
  private readonly bySource = new Map<string, number>();
  private connections = 0;
  private streams = 0;
  /** Closed at once: outside envoy.allowed_sources. */
  rejected = 0;
  /** Closed at once: a connection limit was reached. */
  refused = 0;
  /** Answered RESOURCE_EXHAUSTED: envoy.max_open_streams was reached. */
  streamsRefused = 0;

  constructor(limits: EnvoyLimits) {
    this.limits = limits;
    this.sources = new CidrFilter(limits.allowed_sources);
  }

  reload(limits: EnvoyLimits): void {
    this.sources = new CidrFilter(limits.allowed_sources);
    this.limits = limits;
  }

  get openConnections(): number {
    return this.connections;
  }

  get openStreams(): number {
    return this.streams;
  }

  /** Decides on a new connection from `source`; an admitted one counts until `release(source)`. */
  admit(source: string | undefined): ConnectionVerdict {
    if (source === undefined || !this.sources.allows(source)) {
      this.rejected++;
      return 'source';
    }
    const mine = this.bySource.get(source) ?? 0;
    if (mine >= this.limits.max_connections_per_source) {
      this.refused++;
      return 'max_connections_per_source';
    }
    if (this.connections >= this.limits.max_connections) {
      this.refused++;
      return 'max_connections';
    }
    this.bySource.set(source, mine + 1);
    this.connections++;
    return 'ok';
  }

  release(source: string): void {
    this.connections--;
    const n = (this.bySource.get(source) ?? 1) - 1;
    if (n <= 0) this.bySource.delete(source);
    else this.bySource.set(source, n);
  }

  /** True when a new stream may open; the caller calls `streamClosed` once it closes. */
  openStream(): boolean {
    if (this.streams >= this.limits.max_open_streams) {
      this.streamsRefused++;
      return false;
    }
    this.streams++;
    return true;
  }

  streamClosed(): void {
    this.streams--;
  }
}
