import { type ConsoleEvent, get, send } from './api.js';
import { byId, el, fill, until } from './dom.js';

/** One row of GET /api/history. */
interface HistoryRow {
  ip_address: string;
  jail: string;
  kind: string;
  reason: string;
  created_at: string;
  created_by: string;
  ended_at: string;
  end_reason: string;
  ended_by: string;
}

/** One jail's view of the address (GET /api/bans/{ip} `jails`). */
interface JailView {
  jail: string;
  mode: 'enforce' | 'shadow';
  failures: number;
  threshold: number;
  time_window_seconds: number;
  ban: {
    expires_at: string | null;
    services: string[];
    shadow: boolean;
    reason: string;
    offences: number;
  } | null;
  lines: string[];
}

interface Status {
  ip_address: string;
  banned: boolean;
  kind: string | null;
  matched: string | null;
  reason: string | null;
  expires_at: string | null;
  offences: number;
  failures: number;
  jails?: JailView[];
}

/** One address: why it is (not) banned, what happened to it, and the operator's buttons. */
export class AddressView {
  ip = '';
  canWrite = false;
  private onChange: () => void = () => {};

  init(onChange: () => void): void {
    this.onChange = onChange;
    byId<HTMLFormElement>('ip-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = `#/ip/${encodeURIComponent(byId<HTMLInputElement>('ip-input').value.trim())}`;
    });
    byId('btn-ban').addEventListener('click', () =>
      this.act('/api/ban', 'POST', {
        ip_address: this.ip,
        duration: Number(byId<HTMLSelectElement>('ip-duration').value),
        reason: 'banned from the console',
      }),
    );
    byId('btn-unban').addEventListener('click', () =>
      this.act('/api/unban', 'POST', { ip_address: this.ip }),
    );
    byId('btn-whitelist').addEventListener('click', () =>
      this.act('/api/whitelist', 'POST', { ip_address: this.ip, reason: 'whitelisted from the console' }),
    );
  }

  private async act(path: string, method: 'POST' | 'DELETE', body: unknown): Promise<void> {
    const r = await send(path, method, body);
    byId('ip-message').textContent = r.ok ? 'done' : `refused: ${r.message}`;
    await this.load(this.ip);
    this.onChange();
  }

  async load(ip: string): Promise<void> {
    this.ip = ip;
    byId<HTMLInputElement>('ip-input').value = ip;
    for (const b of ['btn-ban', 'btn-unban', 'btn-whitelist'])
      byId<HTMLButtonElement>(b).disabled = ip === '' || !this.canWrite;
    const box = byId('ip-verdict');
    if (ip === '') {
      box.replaceChildren(el('p', { class: 'muted' }, 'Type an address to see its verdict.'));
      byId('ip-events').replaceChildren();
      byId('ip-history').replaceChildren();
      byId('ip-history-note').textContent = '';
      byId('ip-jails').replaceChildren();
      return;
    }
    let s: Status;
    try {
      s = await get<Status>(`/api/bans/${encodeURIComponent(ip)}`);
    } catch (err) {
      box.replaceChildren(el('p', {}, `No verdict: ${(err as Error).message}`));
      return;
    }
    const table = el('table', { id: 'ip-facts' });
    fill(
      table,
      ['', ''],
      [
        [
          'verdict',
          el(
            'span',
            { class: s.banned ? 'verdict-banned' : 'verdict-allowed', id: 'ip-state' },
            s.banned ? 'banned' : 'allowed',
          ),
        ],
        ['decided by', s.kind ? `${s.kind} ${s.matched ?? ''}` : 'nothing matched'],
        ['reason', s.reason ?? '—'],
        ['left', s.kind === 'temp' ? until(s.expires_at) : s.kind ? 'permanent' : '—'],
        ['offences (escalation)', s.offences],
        ['failures in the window', s.failures],
      ],
    );
    box.replaceChildren(el('h2', {}, s.ip_address), table);
    this.renderJails(s.jails ?? []);
    await this.loadHistory(ip);
    const ev = await get<{ events: ConsoleEvent[] }>(
      `/api/console/events?ip=${encodeURIComponent(ip)}&limit=50`,
    );
    byId('ip-events').replaceChildren(
      ...ev.events.map((e) =>
        el(
          'li',
          {},
          el('span', { class: e.type }, e.type === 'ban' ? 'BAN ' : 'UNBAN '),
          `${new Date(e.at).toLocaleString()} by ${e.by}: `,
          e.reason,
        ),
      ),
    );
  }

  /**
   * Per jail: the count against its threshold in its window, its ban (scope, shadow) and the log
   * lines that counted, as received (text only: an attacker wrote them).
   */
  private renderJails(jails: JailView[]): void {
    const box = byId('ip-jails');
    if (jails.length === 0) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No jail counts or bans this address.'));
      return;
    }
    box.replaceChildren(
      ...jails.map((j) => {
        const ban = j.ban;
        const state = ban
          ? el(
              'span',
              { class: ban.shadow ? 'badge shadow' : 'verdict-banned' },
              `${ban.shadow ? 'would be banned (shadow)' : 'banned'} for ${until(ban.expires_at)}, ${
                ban.services.length > 0 ? ban.services.join(', ') : 'every service'
              }`,
            )
          : el('span', { class: 'verdict-allowed' }, 'not banned');
        const lines = el('ol', { class: 'lines' }, ...j.lines.map((l) => el('li', {}, el('code', {}, l))));
        return el(
          'div',
          { class: 'jail', 'data-jail': j.jail },
          el('h3', {}, j.jail, j.mode === 'shadow' ? el('span', { class: 'badge shadow' }, ' shadow') : null),
          el(
            'p',
            {},
            el('span', { class: 'count' }, `${j.failures}/${j.threshold}`),
            ` failures in ${Math.round(j.time_window_seconds / 60)} min · `,
            state,
            ban ? ` · ${ban.reason}` : '',
          ),
          j.lines.length > 0 ? lines : el('p', { class: 'muted' }, 'No line of it counts now.'),
        );
      }),
    );
  }

  /** The bans of this address that ended (kept in the database for database.history_retention). */
  private async loadHistory(ip: string): Promise<void> {
    const table = byId('ip-history');
    const note = byId('ip-history-note');
    let h: { count: number; history: HistoryRow[] };
    try {
      h = await get(`/api/history?ip=${encodeURIComponent(ip)}&limit=20`);
    } catch (err) {
      table.replaceChildren();
      note.textContent = `No history: ${(err as Error).message} (it needs the database)`;
      return;
    }
    fill(
      table,
      ['ended', 'how', 'ended by', 'banned', 'banned by', 'jail', 'reason'],
      h.history.map((r) => [
        new Date(r.ended_at).toLocaleString(),
        el('span', { class: `end-${r.end_reason}` }, r.end_reason),
        r.ended_by,
        new Date(r.created_at).toLocaleString(),
        r.created_by,
        r.jail,
        r.reason,
      ]),
    );
    for (const [i, row] of [...table.querySelectorAll('tr')].slice(1).entries())
      row.dataset.end = h.history[i].end_reason;
    note.textContent =
      h.count === 0 ? 'No ban of this address has ended yet.' : `${h.history.length} shown of ${h.count}`;
  }
}
