/** Elements are built with textContent only: ban reasons quote attacker-written log lines. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | number | null)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) e.append(typeof c === 'number' ? String(c) : c);
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`no #${id}`);
  return e as T;
}

export function fill(table: HTMLElement, head: string[], rows: (Node | string | number)[][]): void {
  const thead = el('tr', {}, ...head.map((h) => el('th', {}, h)));
  table.replaceChildren(
    thead,
    ...rows.map((r) =>
      el('tr', {}, ...r.map((c) => el('td', typeof c === 'number' ? { class: 'n' } : {}, c))),
    ),
  );
}

export function ipLink(ip: string): HTMLAnchorElement {
  return el('a', { href: `#/ip/${encodeURIComponent(ip)}` }, ip);
}

const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
export const num = (n: number): string => nf.format(n);

export function ago(iso: string | number | null): string {
  if (iso === null) return '—';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function until(t: number | string | null): string {
  if (t === null) return 'permanent';
  const ms = (typeof t === 'number' ? t : Date.parse(t)) - Date.now();
  const s = Math.round(ms / 1000);
  if (s <= 0) return 'expired';
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
