import { type ConsoleEvent, get, type Sample } from './api.js';
import { LiveChart } from './charts.js';
import { ago, byId, el, fill, ipLink, num, until } from './dom.js';

interface Overview {
  node: string;
  version: string;
  uptime_seconds: number;
  user: string | null;
  can_write: boolean;
  active_bans: number;
  blacklist: number;
  whitelist: number;
  tracked_addresses: number;
  last_sample: Sample | null;
  top: {
    prefixes: { prefix: string; bans: number }[];
    offenders: { ip_address: string; bans: number }[];
    patterns: { pattern: string; bans: number }[];
  };
  pattern_rates: { pattern: string; per_second: number }[];
  quarantined: { name: string; since: string; reason: string }[];
  database: { enabled: boolean; connected: boolean; driver: string; pending_writes?: number } | null;
  health: { status?: string; checks?: Record<string, { state?: string }> } | null;
}

const MAX_LIVE_ROWS = 200;

export class OverviewView {
  private lookups!: LiveChart;
  private syslog!: LiveChart;
  private bans!: LiveChart;
  private last: Sample | null = null;
  overview: Overview | null = null;

  async init(): Promise<void> {
    this.lookups = new LiveChart({
      target: byId('chart-lookups'),
      series: [
        { key: 'haproxy_allowed', label: 'HAProxy allowed', color: '#1565c0' },
        { key: 'haproxy_denied', label: 'HAProxy denied', color: '#c62828' },
        { key: 'nginx_allowed', label: 'Nginx allowed', color: '#2e7d32' },
        { key: 'nginx_denied', label: 'Nginx denied', color: '#ef6c00' },
        { key: 'envoy_allowed', label: 'Envoy allowed', color: '#6a1b9a' },
        { key: 'envoy_denied', label: 'Envoy denied', color: '#ad1457' },
      ],
    });
    this.syslog = new LiveChart({
      target: byId('chart-syslog'),
      series: [
        { key: 'syslog_lines', label: 'lines/s', color: '#1565c0' },
        { key: 'matches', label: 'matches/s', color: '#ef6c00' },
        { key: 'syslog_shed', label: 'shed/s', color: '#c62828' },
      ],
    });
    this.bans = new LiveChart({
      target: byId('chart-bans'),
      series: [
        { key: 'bans', label: 'bans/s', color: '#c62828' },
        { key: 'active_bans', label: 'active', color: '#1565c0' },
      ],
    });
    const s = await get<{ t: number[]; series: Record<string, number[]> }>('/api/console/samples');
    for (const c of [this.lookups, this.syslog, this.bans]) c.load(s.t, s.series);
    const ev = await get<{ events: ConsoleEvent[] }>('/api/console/events?limit=50');
    for (const e of ev.events.reverse()) this.event(e);
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const o = await get<Overview>('/api/console/overview');
    this.overview = o;
    byId('node').textContent =
      `${o.node} · ${o.version}${o.user ? ` · ${o.user}${o.can_write ? '' : ' (read-only)'}` : ''}`;
    this.last = o.last_sample ?? this.last;
    this.cards();
    fill(
      byId('top-prefixes'),
      ['prefix', 'bans'],
      o.top.prefixes.map((p) => [p.prefix, p.bans]),
    );
    fill(
      byId('top-offenders'),
      ['address', 'bans'],
      o.top.offenders.map((p) => [ipLink(p.ip_address), p.bans]),
    );
    const rate = new Map(o.pattern_rates.map((p) => [p.pattern, p.per_second]));
    const names = new Set([...rate.keys(), ...o.top.patterns.map((p) => p.pattern)]);
    const bans = new Map(o.top.patterns.map((p) => [p.pattern, p.bans]));
    const quarantined = new Set(o.quarantined.map((q) => q.name));
    fill(
      byId('patterns'),
      ['pattern', 'matches/s', 'bans (1 h)'],
      [...names].map((n) => [
        quarantined.has(n) ? `${n} (quarantined)` : n,
        num(rate.get(n) ?? 0),
        bans.get(n) ?? 0,
      ]),
    );
    const health: [string, string][] = [];
    for (const [k, v] of Object.entries(o.health?.checks ?? {})) health.push([k, v.state ?? '']);
    if (o.database && !o.health?.checks?.database)
      health.push([
        'database',
        `${o.database.driver}: ${o.database.connected ? 'connected' : 'down'}${o.database.pending_writes ? `, ${o.database.pending_writes} pending` : ''}`,
      ]);
    for (const q of o.quarantined)
      health.push([`pattern ${q.name}`, `quarantined ${ago(q.since)}: ${q.reason}`]);
    fill(byId('health'), ['subsystem', 'state'], health);
  }

  private cards(): void {
    const o = this.overview;
    const r = this.last?.row ?? {};
    const lookups = (p: string) => (r[`${p}_allowed`] ?? 0) + (r[`${p}_denied`] ?? 0);
    const cards: [string, string, string][] = [
      ['active bans', num(r.active_bans ?? o?.active_bans ?? 0), 'card-active'],
      ['bans/s', num(r.bans ?? 0), 'card-bans'],
      ['HAProxy lookups/s', num(lookups('haproxy')), 'card-haproxy'],
      ['Nginx lookups/s', num(lookups('nginx')), 'card-nginx'],
      ['Envoy lookups/s', num(lookups('envoy')), 'card-envoy'],
      ['syslog lines/s', num(r.syslog_lines ?? 0), 'card-syslog'],
      ['lines shed/s', num(r.syslog_shed ?? 0), 'card-shed'],
      ['tracked addresses', num(o?.tracked_addresses ?? 0), 'card-tracked'],
      ['quarantined patterns', String(o?.quarantined.length ?? 0), 'card-quarantined'],
    ];
    byId('cards').replaceChildren(
      ...cards.map(([k, v, id]) =>
        el('div', { class: 'card', id }, el('div', { class: 'v' }, v), el('div', { class: 'k' }, k)),
      ),
    );
  }

  sample(s: Sample): void {
    this.last = s;
    for (const c of [this.lookups, this.syslog, this.bans]) c.push(s);
    this.cards();
  }

  event(e: ConsoleEvent): void {
    const list = byId('live');
    const what =
      e.type === 'ban'
        ? ` banned ${e.expiresAt ? `for ${until(e.expiresAt)}` : 'permanently'}${e.origin === 'fleet' ? ` (from ${e.node})` : ''}: `
        : ` unbanned by ${e.by}: `;
    list.prepend(
      el(
        'li',
        { 'data-ip': e.ip, 'data-type': e.type, 'data-jail': e.jail },
        el('span', { class: e.type }, e.type === 'ban' ? 'BAN ' : 'UNBAN '),
        ipLink(e.ip),
        what,
        e.reason,
        el('span', { class: 'muted' }, ` · ${e.jail} · ${new Date(e.at).toLocaleTimeString()}`),
      ),
    );
    const only = byId<HTMLSelectElement>('live-jail').value;
    if (only !== '' && e.jail !== only) (list.firstElementChild as HTMLElement).hidden = true;
    while (list.childElementCount > MAX_LIVE_ROWS) list.lastElementChild?.remove();
  }

  /** Shows the live events of one jail ('' = every jail). */
  onlyJail(jail: string): void {
    for (const li of byId('live').querySelectorAll<HTMLElement>('li'))
      li.hidden = jail !== '' && li.dataset.jail !== jail;
  }
}
