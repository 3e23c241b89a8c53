import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSet } from './config.js';
import { Fail2banConfigError } from './errors.js';
import { fail2banSeconds } from './time.js';

/** One jail of a fail2ban tree, its settings typed (seconds; null = not set). */
export interface JailDef {
  name: string;
  enabled: boolean;
  /** `sshd[mode=aggressive]` as the jail names it. */
  filter: string;
  maxretry: number;
  findtime: number;
  /** Seconds; negative = permanent. */
  bantime: number;
  increment: boolean;
  factor: number | null;
  maxtime: number | null;
  rndtime: number | null;
  ignoreip: string[];
  port: string | null;
  logpath: string[];
  backend: string | null;
}

/** fail2ban's reading order: jail.conf, jail.d/*.conf, jail.local, jail.d/*.local. */
export function jailFiles(dir: string): string[] {
  const d = join(dir, 'jail.d');
  const inD = existsSync(d) ? readdirSync(d).sort() : [];
  const list = [
    join(dir, 'jail.conf'),
    ...inD.filter((f) => f.endsWith('.conf')).map((f) => join(d, f)),
    join(dir, 'jail.local'),
    ...inD.filter((f) => f.endsWith('.local')).map((f) => join(d, f)),
  ];
  return list.filter((f) => existsSync(f));
}

const TRUE = new Set(['true', 'yes', 'on', '1']);

/** Every jail section of the tree (enabled or not), in file order. */
export function readJails(dir: string): JailDef[] {
  const files = jailFiles(dir);
  if (files.length === 0) throw new Fail2banConfigError(join(dir, 'jail.conf'), 'no jail.conf or jail.local');
  const cfg = new ConfigSet();
  for (const f of files) cfg.read(f, false);
  const out: JailDef[] = [];
  for (const name of cfg.sections.keys()) {
    if (name === 'INCLUDES' || name.startsWith('KNOWN/')) continue;
    const get = (k: string) => {
      try {
        return cfg.get(name, k);
      } catch {
        return undefined;
      }
    };
    const secs = (k: string): number | null => {
      const v = get(k);
      if (v === undefined || v.trim() === '') return null;
      try {
        return fail2banSeconds(v);
      } catch (err) {
        throw new Fail2banConfigError(`[${name}] ${k}`, (err as Error).message);
      }
    };
    const num = (k: string): number | null => {
      const v = get(k);
      return v === undefined || v.trim() === '' || Number.isNaN(Number(v)) ? null : Number(v);
    };
    const filter = get('filter');
    // sections without a filter are helpers (action settings), not jails
    if (filter === undefined || filter.trim() === '') continue;
    out.push({
      name,
      enabled: TRUE.has((get('enabled') ?? 'false').trim().toLowerCase()),
      filter: filter.trim(),
      maxretry: num('maxretry') ?? 5,
      findtime: secs('findtime') ?? 600,
      bantime: secs('bantime') ?? 600,
      increment: TRUE.has((get('bantime.increment') ?? 'false').trim().toLowerCase()),
      factor: num('bantime.factor'),
      maxtime: secs('bantime.maxtime'),
      rndtime: secs('bantime.rndtime'),
      ignoreip: (get('ignoreip') ?? '').split(/[\s,]+/).filter((x) => x !== ''),
      port: get('port')?.trim() || null,
      logpath: (get('logpath') ?? '')
        .split('\n')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
      backend: get('backend')?.trim() || null,
    });
  }
  return out;
}
