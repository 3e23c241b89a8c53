import { type ConsoleEvent, get, send } from './api.js';
import { byId, el, fill, until } from './dom.js';

interface Status {
  ip_address: string;
  banned: boolean;
  kind: string | null;
  matched: string | null;
  reason: string | null;
  expires_at: string | null;
  offences: number;
  failures: number;
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
}
