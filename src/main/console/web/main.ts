import './style.css';
import { AddressView } from './address.js';
import { type ConsoleEvent, live, type Sample } from './api.js';
import { BansView } from './bans.js';
import { byId } from './dom.js';
import { JailsView, jailOptions } from './jails.js';
import { OverviewView } from './overview.js';

const overview = new OverviewView();
const bans = new BansView();
const address = new AddressView();
const jails = new JailsView();

function route(): void {
  const h = location.hash || '#/';
  const view = h.startsWith('#/bans')
    ? 'bans'
    : h.startsWith('#/jails')
      ? 'jails'
      : h.startsWith('#/ip/')
        ? 'address'
        : 'overview';
  for (const v of ['overview', 'jails', 'bans', 'address']) byId(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a'))
    a.classList.toggle('active', a.dataset.view === view);
  if (view === 'jails') void jails.load();
  if (view === 'bans') {
    bans.fromHash(h);
    void bans.load();
  }
  if (view === 'address') {
    address.canWrite = overview.overview?.can_write ?? false;
    void address.load(decodeURIComponent(h.slice('#/ip/'.length)));
  }
}

async function main(): Promise<void> {
  bans.init();
  address.init(() => void overview.refresh());
  jails.onNames((names) => {
    jailOptions(byId<HTMLSelectElement>('live-jail'), names);
    jailOptions(byId<HTMLSelectElement>('ban-jail'), names);
  });
  byId<HTMLSelectElement>('live-jail').addEventListener('change', (ev) =>
    overview.onlyJail((ev.target as HTMLSelectElement).value),
  );
  await overview.init();
  await jails.load();
  window.addEventListener('hashchange', route);
  route();
  live(
    (type, data) => {
      if (type === 'sample') overview.sample(data as Sample);
      else if (type === 'ban' || type === 'unban') {
        const e = data as ConsoleEvent;
        overview.event(e);
        if (!byId('view-address').hidden && address.ip === e.ip) void address.load(address.ip);
      }
    },
    (up) => byId('conn').classList.toggle('up', up),
  );
  // the totals and top lists change slowly: once every 5 s, not per event
  setInterval(() => {
    void overview.refresh().catch(() => {});
    void jails.load().catch(() => {});
  }, 5000);
}

void main();
