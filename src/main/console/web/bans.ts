import { get } from './api.js';
import { byId, el, fill, ipLink, until } from './dom.js';
import { setJail } from './jails.js';

interface TempBan {
  ip_address: string;
  reason: string;
  expires_at: string | null;
  created_at?: string;
  offences?: number;
  created_by?: string;
  jail?: string;
  services?: string[];
  shadow?: boolean;
}

const PAGE = 50;

/** Active bans, paged and filtered by the server: a million bans never reach the browser. */
export class BansView {
  private offset = 0;
  private filter = '';
  private jail = '';
  private shadow = false;

  init(): void {
    const again = () => {
      this.filter = byId<HTMLInputElement>('ban-filter').value.trim();
      this.jail = byId<HTMLSelectElement>('ban-jail').value;
      this.shadow = byId<HTMLInputElement>('ban-shadow').checked;
      this.offset = 0;
      void this.load();
    };
    byId<HTMLFormElement>('ban-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      again();
    });
    byId('ban-jail').addEventListener('change', again);
    byId('ban-shadow').addEventListener('change', again);
    byId('ban-prev').addEventListener('click', () => {
      this.offset = Math.max(0, this.offset - PAGE);
      void this.load();
    });
    byId('ban-next').addEventListener('click', () => {
      this.offset += PAGE;
      void this.load();
    });
  }

  /** The jail from the address (`#/bans?jail=sshd`), as a link from the jails view gives it. */
  fromHash(hash: string): void {
    const cut = hash.indexOf('?');
    const jail = cut < 0 ? '' : (new URLSearchParams(hash.slice(cut + 1)).get('jail') ?? '');
    if (cut < 0 && this.jail === '') return;
    if (jail !== this.jail) this.offset = 0;
    this.jail = jail;
    setJail(byId<HTMLSelectElement>('ban-jail'), jail);
  }

  async load(): Promise<void> {
    const q = new URLSearchParams({ offset: String(this.offset), limit: String(PAGE) });
    if (this.filter) q.set('filter', this.filter);
    if (this.jail) q.set('jail', this.jail);
    if (this.shadow) q.set('shadow', 'true');
    const r = await get<{ count: number; temp_bans?: TempBan[] }>(`/api/temp-bans?${q}`);
    const items = r.temp_bans ?? [];
    byId('ban-count').textContent =
      `${r.count} ${this.shadow ? 'would-be (shadow)' : 'active'}${this.jail ? ` in ${this.jail}` : ''}`;
    byId('ban-page').textContent =
      r.count === 0 ? '' : `${this.offset + 1}–${Math.min(this.offset + PAGE, r.count)} of ${r.count}`;
    byId<HTMLButtonElement>('ban-prev').disabled = this.offset === 0;
    byId<HTMLButtonElement>('ban-next').disabled = this.offset + PAGE >= r.count;
    fill(
      byId('ban-table'),
      ['address', 'jail', 'services', 'reason', 'left', 'offences', 'by'],
      items.map((b) => [
        ipLink(b.ip_address),
        b.shadow ? el('span', { class: 'badge shadow' }, `${b.jail ?? ''} (shadow)`) : (b.jail ?? ''),
        b.services && b.services.length > 0 ? b.services.join(', ') : 'every service',
        b.reason,
        until(b.expires_at),
        b.offences ?? 0,
        b.created_by ?? '',
      ]),
    );
  }
}
