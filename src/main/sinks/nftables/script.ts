import type { Element } from './elements.js';

/** Marks the table as edgeban's: a table of that name without it is left alone. */
export const TABLE_COMMENT = 'managed by edgeban';
export const CHAIN = 'input';

/** Where the sets and the optional chain live, and what the chain does. */
export interface TableSpec {
  family: 'inet' | 'ip' | 'ip6';
  table: string;
  /** The address families kept (inet: both). */
  families: (4 | 6)[];
  chain: boolean;
  ports: number[];
  action: 'drop' | 'reject';
}

export const banSet = (f: 4 | 6) => `banned_v${f}`;
export const allowSet = (f: 4 | 6) => `allowed_v${f}`;

/** Elements per `add element` line: keeps each line (and nft's error echo) short. */
const PER_LINE = 2048;

export function familiesOf(family: TableSpec['family']): (4 | 6)[] {
  return family === 'inet' ? [4, 6] : family === 'ip' ? [4] : [6];
}

/**
 * Creates what is missing (table, sets) and rewrites the optional chain; `add` leaves an existing
 * table and set as they are, so this is safe on every start.
 */
export function setupScript(t: TableSpec): string {
  const at = `${t.family} ${t.table}`;
  const out = [`add table ${at} { comment "${TABLE_COMMENT}"; }`];
  for (const f of t.families) {
    const type = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    out.push(`add set ${at} ${banSet(f)} { type ${type}; flags interval,timeout; }`);
    out.push(`add set ${at} ${allowSet(f)} { type ${type}; flags interval; }`);
  }
  // the chain is created in any case so that it can be flushed (and dropped when not wanted)
  out.push(`add chain ${at} ${CHAIN} { type filter hook input priority filter - 10; policy accept; }`);
  out.push(`flush chain ${at} ${CHAIN}`);
  if (!t.chain) out.push(`delete chain ${at} ${CHAIN}`);
  else for (const rule of chainRules(t)) out.push(`add rule ${at} ${CHAIN} ${rule}`);
  return `${out.join('\n')}\n`;
}

/** The rules of edgeban's own chain (also shown in the docs): allowed first, then banned. */
export function chainRules(t: Pick<TableSpec, 'families' | 'ports' | 'action'>): string[] {
  const rules: string[] = [];
  const ports = t.ports.length === 0 ? '' : ` th dport { ${[...t.ports].sort((a, b) => a - b).join(', ')} }`;
  for (const f of t.families) {
    const saddr = f === 4 ? 'ip saddr' : 'ip6 saddr';
    rules.push(`${saddr} @${allowSet(f)} return`);
    if (t.action === 'drop') rules.push(`${saddr} @${banSet(f)} meta l4proto { tcp, udp }${ports} drop`);
    else {
      rules.push(`${saddr} @${banSet(f)} meta l4proto tcp${ports} reject with tcp reset`);
      rules.push(`${saddr} @${banSet(f)} meta l4proto udp${ports} reject`);
    }
  }
  if (t.ports.length > 0) return rules;
  // every port: every protocol too (ICMP included)
  if (t.action === 'drop') return rules.map((r) => r.replace(' meta l4proto { tcp, udp }', ''));
  for (const f of t.families) rules.push(`${f === 4 ? 'ip saddr' : 'ip6 saddr'} @${banSet(f)} drop`);
  return rules;
}

function elementText(e: Element): string {
  return e.timeoutMs === null ? e.key : `${e.key} timeout ${Math.ceil(e.timeoutMs)}ms`;
}

function lines(verb: string, at: string, set: string, items: string[], out: string[]): void {
  for (let i = 0; i < items.length; i += PER_LINE)
    out.push(`${verb} element ${at} ${set} { ${items.slice(i, i + PER_LINE).join(', ')} }`);
}

/**
 * Removals of elements the kernel holds. No add-then-delete guard against one the kernel lifted
 * by itself meanwhile: nft then refuses an interval added later in the same transaction over the
 * deleted ones. Elements about to expire are left to the kernel instead, and a refused batch is
 * followed by a resync.
 */
export function removeLines(at: string, set: string, keys: string[], out: string[]): void {
  if (keys.length === 0) return;
  lines('delete', at, set, keys, out);
}

export function addLines(at: string, set: string, elements: Element[], out: string[]): void {
  if (elements.length === 0) return;
  lines('add', at, set, elements.map(elementText), out);
}

export function flushLine(at: string, set: string, out: string[]): void {
  out.push(`flush set ${at} ${set}`);
}
