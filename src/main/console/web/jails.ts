// the server's own type: the page reads exactly what console/jails.ts sends
import type { ConsoleJail } from '../jails.js';
import { get } from './api.js';
import { byId, el, fill, ipLink, num } from './dom.js';

export type { ConsoleJail };

/** 600 → "10m", 3600 → "1h", 90 → "90s". */
export function span(seconds: number): string {
  if (seconds % 86_400 === 0 && seconds > 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0 && seconds > 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0 && seconds > 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Each jail: its rule, its scope, what it holds and did in the last hour. */
export class JailsView {
  jails: ConsoleJail[] = [];
  private readonly listeners: ((names: string[]) => void)[] = [];

  /** Told the jail names whenever they change (the jail filters of the other views). */
  onNames(l: (names: string[]) => void): void {
    this.listeners.push(l);
  }

  async load(): Promise<void> {
    const r = await get<{ jails: ConsoleJail[] }>('/api/console/jails');
    const before = this.jails.map((j) => j.name).join(',');
    this.jails = r.jails;
    const names = r.jails.map((j) => j.name);
    if (names.join(',') !== before) for (const l of this.listeners) l(names);
    fill(
      byId('jail-table'),
      ['jail', 'mode', 'rule', 'services', 'active bans', 'bans (1 h)', 'matches/s', 'top offenders'],
      r.jails.map((j) => [
        el('a', { href: `#/bans?jail=${encodeURIComponent(j.name)}`, 'data-jail': j.name }, j.name),
        el(
          'span',
          { class: j.mode === 'shadow' ? 'badge shadow' : j.enabled ? 'badge' : 'badge off' },
          j.enabled ? j.mode : 'disabled',
        ),
        j.source === 'bans'
          ? `${j.max_attempts} bans in ${span(j.time_window_seconds)} → ${span(j.initial_ban_time_seconds)}`
          : `${j.max_attempts} in ${span(j.time_window_seconds)} → ${span(j.initial_ban_time_seconds)}`,
        j.services.length > 0 ? j.services.join(', ') : 'every service',
        j.active_bans,
        j.bans_last_hour,
        num(j.matches_per_second),
        el(
          'span',
          { class: 'offenders' },
          ...j.top_offenders.flatMap((o, i) => [i > 0 ? ' ' : '', ipLink(o.ip_address), ` (${o.bans})`]),
        ),
      ]),
    );
    for (const [i, row] of [...byId('jail-table').querySelectorAll('tr')].slice(1).entries())
      row.dataset.jail = r.jails[i].name;
  }
}

/** Puts `names` into a jail <select>, keeping its choice and its first ("every jail") option. */
export function jailOptions(select: HTMLSelectElement, names: string[]): void {
  setJail(select, select.value, names);
}

/** Chooses `jail` in a jail <select> (added as an option if the list does not have it yet). */
export function setJail(select: HTMLSelectElement, jail: string, names?: string[]): void {
  const list = names ?? [...select.options].slice(1).map((o) => o.value);
  const all = jail !== '' && !list.includes(jail) ? [...list, jail] : list;
  const first = select.options[0];
  select.replaceChildren(first, ...all.map((n) => el('option', { value: n }, n)));
  select.value = jail;
}
