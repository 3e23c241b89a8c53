import { completeJail, type JailInput, jailNameProblem } from '../jails/fields.js';
import { DEFAULT_JAIL } from '../jails/types.js';
import type { Fail2banImport, ImportedJail } from './import.js';

/**
 * fail2ban's `port` names and numbers, as the service names the proxies tell edgeban. A port list
 * maps only when every entry maps: a jail that also guards a port with no name here is banned
 * everywhere instead (stricter, never looser, than what fail2ban blocked).
 */
const PORT_SERVICES: Record<string, string> = {
  ssh: 'ssh',
  '22': 'ssh',
  smtp: 'smtp',
  '25': 'smtp',
  ssmtp: 'smtp',
  smtps: 'smtp',
  '465': 'smtp',
  submission: 'smtp',
  submissions: 'smtp',
  '587': 'smtp',
  imap: 'imap',
  imap2: 'imap',
  imap3: 'imap',
  '143': 'imap',
  imaps: 'imap',
  '993': 'imap',
  pop3: 'pop3',
  '110': 'pop3',
  pop3s: 'pop3',
  '995': 'pop3',
  http: 'http',
  '80': 'http',
  https: 'https',
  '443': 'https',
  ftp: 'ftp',
  'ftp-data': 'ftp',
  ftps: 'ftp',
  'ftps-data': 'ftp',
  '21': 'ftp',
  sieve: 'sieve',
  '4190': 'sieve',
};

/** The services a fail2ban `port` value maps to; `unmapped` lists the entries that do not. */
export function servicesOfPort(port: string | null): { services: string[]; unmapped: string[] } {
  if (port === null) return { services: [], unmapped: [] };
  const services: string[] = [];
  const unmapped: string[] = [];
  for (const raw of port.split(/[\s,]+/)) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    const s = PORT_SERVICES[p];
    if (s === undefined) unmapped.push(raw.trim());
    else if (!services.includes(s)) services.push(s);
  }
  return unmapped.length > 0 ? { services: [], unmapped } : { services, unmapped };
}

/** A fail2ban jail's name as an edgeban jail name (its characters; `default` is taken). */
export function jailNameOf(name: string): string {
  let n = name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  if (n === '') n = 'jail';
  if (n.toLowerCase() === DEFAULT_JAIL) n = 'f2b-default';
  return n.slice(0, 64);
}

/** One imported jail as an edgeban jail, and what the translation had to say about it. */
export interface JailTranslation {
  jail: JailInput;
  /** Lines for the report and the config file's comments. */
  notes: string[];
}

/**
 * maxretry → max_attempts, findtime → time_window, bantime → initial_ban_time,
 * bantime.increment + factor / maxtime → escalation_factor / max_ban_time (no increment: every
 * ban as long as the first), the filter's patterns by name, `port` → services where it maps.
 */
export function translateJail(x: ImportedJail): JailTranslation {
  const j = x.jail;
  const notes: string[] = [];
  const name = jailNameOf(j.name);
  if (name !== j.name) notes.push(`named ${name} (fail2ban: ${j.name})`);
  const ms = (s: number) => Math.round(s * 1000);
  const jail = completeJail({
    name,
    patterns: x.patterns.map((p) => p.name),
    max_attempts: Math.max(1, Math.round(j.maxretry)),
    time_window: j.findtime > 0 ? ms(j.findtime) : null,
  });
  if (j.bantime > 0) jail.initial_ban_time = ms(j.bantime);
  else notes.push(`bantime ${j.bantime} (permanent) has no jail equivalent: ban: initial_ban_time applies`);
  if (j.increment) {
    if (j.factor !== null && j.factor > 1) jail.escalation_factor = j.factor;
    if (j.maxtime !== null && j.maxtime > 0) jail.max_ban_time = ms(j.maxtime);
  } else if (jail.initial_ban_time !== null) {
    // fail2ban without bantime.increment bans for bantime every time
    jail.max_ban_time = jail.initial_ban_time;
  }
  if (
    jail.max_ban_time !== null &&
    jail.initial_ban_time !== null &&
    jail.max_ban_time < jail.initial_ban_time
  ) {
    notes.push(`bantime.maxtime ${j.maxtime}s is below bantime ${j.bantime}s: max_ban_time = bantime`);
    jail.max_ban_time = jail.initial_ban_time;
  }
  if (j.rndtime !== null) notes.push(`bantime.rndtime ${j.rndtime}s: no edgeban equivalent`);
  const ports = servicesOfPort(j.port);
  jail.services = ports.services;
  if (j.port !== null) {
    if (ports.unmapped.length > 0)
      notes.push(`port ${j.port}: ${ports.unmapped.join(', ')} is no known service: banned on every service`);
    else notes.push(`port ${j.port} -> services ${ports.services.join(', ')}`);
  }
  jail.logpath = logpathOf(j.logpath, j.backend);
  for (const p of j.logpath)
    if (!jail.logpath.includes(logpathEntry(p)) && !j.backend?.startsWith('systemd'))
      notes.push(`logpath ${p}: not an absolute path, not read`);
  if (j.backend?.startsWith('systemd'))
    notes.push(`backend ${j.backend}: the journal is not read; send its lines to edgeban's syslog`);
  if (jailNameProblem(name) !== null) notes.push(`name ${name} is not usable`);
  return { jail, notes };
}

/** A logpath line without fail2ban's `tail` / `head` option after the path. */
function logpathEntry(line: string): string {
  return line.replace(/\s+(tail|head)$/i, '').trim();
}

/** The files a jail reads (absolute paths and globs); none for a jail on the systemd journal. */
export function logpathOf(lines: readonly string[], backend: string | null): string[] {
  if (backend?.startsWith('systemd')) return [];
  const out: string[] = [];
  for (const l of lines) {
    const p = logpathEntry(l);
    if (p.startsWith('/') && !out.includes(p)) out.push(p);
  }
  return out;
}

function q(s: string): string {
  return JSON.stringify(s);
}

function duration(ms: number): string {
  return q(`${Math.round(ms / 1000)}s`);
}

/**
 * The `jails:` section as YAML text (comments keep what has no key: the raw port list, the
 * notes). Each value is written in JSON form, which YAML reads as is.
 */
export function jailsYaml(imp: Fail2banImport): string {
  const list = imp.jails.filter((x) => x.error === null && x.patterns.length > 0).map(translateJail);
  if (list.length === 0) return '';
  const out = ['', '# fail2ban jails, one edgeban jail each (docs/jails.md)', 'jails:'];
  for (const { jail: j, notes } of list) {
    out.push(`  ${q(j.name)}:`);
    for (const n of notes) out.push(`    # ${n.replace(/\n/g, ' ')}`);
    out.push(`    patterns: [${j.patterns.map(q).join(', ')}]`);
    if (j.max_attempts !== null) out.push(`    max_attempts: ${j.max_attempts}`);
    if (j.time_window !== null) out.push(`    time_window: ${duration(j.time_window)}`);
    if (j.initial_ban_time !== null) out.push(`    initial_ban_time: ${duration(j.initial_ban_time)}`);
    if (j.max_ban_time !== null) out.push(`    max_ban_time: ${duration(j.max_ban_time)}`);
    if (j.escalation_factor !== null) out.push(`    escalation_factor: ${j.escalation_factor}`);
    if (j.services.length > 0) out.push(`    services: [${j.services.map(q).join(', ')}]`);
    // its patterns read these files alone, as the fail2ban jail did
    if (j.logpath.length > 0) out.push(`    logpath: [${j.logpath.map(q).join(', ')}]`);
  }
  return `${out.join('\n')}\n`;
}
