import { get } from './api.js';
import { byId, fill, ipLink, until } from './dom.js';

interface TempBan {
  ip_address: string;
  reason: string;
  expires_at: string | null;
  created_at?: string;
  offences?: number;
  created_by?: string;
}

const PAGE = 50;

/** Active bans, paged and filtered by the server: a million bans never reach the browser. */
export class BansView {
  private offset = 0;
  private filter = '';

  init(): void {
    byId<HTMLFormElement>('ban-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.filter = byId<HTMLInputElement>('ban-filter').value.trim();
      this.offset = 0;
      void this.load();
    });
    byId('ban-prev').addEventListener('click', () => {
      this.offset = Math.max(0, this.offset - PAGE);
      void this.load();
    });
    byId('ban-next').addEventListener('click', () => {
      this.offset += PAGE;
      void this.load();
    });
  }

  async load(): Promise<void> {
    const q = new URLSearchParams({ offset: String(this.offset), limit: String(PAGE) });
    if (this.filter) q.set('filter', this.filter);
    const r = await get<{ count: number; temp_bans?: TempBan[] }>(`/api/temp-bans?${q}`);
    const items = r.temp_bans ?? [];
    byId('ban-count').textContent = `${r.count} active`;
    byId('ban-page').textContent =
      r.count === 0 ? '' : `${this.offset + 1}–${Math.min(this.offset + PAGE, r.count)} of ${r.count}`;
    byId<HTMLButtonElement>('ban-prev').disabled = this.offset === 0;
    byId<HTMLButtonElement>('ban-next').disabled = this.offset + PAGE >= r.count;
    fill(
      byId('ban-table'),
      ['address', 'reason', 'left', 'offences', 'by'],
      items.map((b) => [
        ipLink(b.ip_address),
        b.reason,
        until(b.expires_at),
        b.offences ?? 0,
        b.created_by ?? '',
      ]),
    );
  }
}
