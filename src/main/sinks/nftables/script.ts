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

/**
 * One of edgeban's sets. Addresses and the IPv6 /64s (what the engine bans by default) go to hash
 * sets; other prefixes to interval sets. nft (1.0.6) reads every interval set of the table back
 * before any element change, so a batch on a 100k-element interval set took seconds; on a hash
 * set it takes milliseconds.
 */
export interface SetDef {
  name: string;
  family: 4 | 6;
  ban: boolean;
  /** Prefix length the set holds only (hash sets), or null for an interval set of any. */
  len: number | null;
  /** The rule's match on the source: `ip saddr`, or masked to the /64. */
  match: string;
}

const V6_64_MASK = 'ffff:ffff:ffff:ffff::';

export function setDefs(families: (4 | 6)[]): SetDef[] {
  const out: SetDef[] = [];
  for (const f of families) {
    const saddr = f === 4 ? 'ip saddr' : 'ip6 saddr';
    out.push({ name: `allowed_v${f}`, family: f, ban: false, len: null, match: saddr });
    out.push({ name: `banned_v${f}`, family: f, ban: true, len: f === 4 ? 32 : 128, match: saddr });
    if (f === 6)
      out.push({ name: 'banned_v6_64', family: 6, ban: true, len: 64, match: `${saddr} & ${V6_64_MASK}` });
    out.push({ name: `banned_v${f}_nets`, family: f, ban: true, len: null, match: saddr });
  }
  return out;
}

/** The set a target (canonical address or CIDR) belongs in. */
export function setNameFor(ban: boolean, family: 4 | 6, prefixLen: number): string {
  if (!ban) return `allowed_v${family}`;
  if (prefixLen === (family === 4 ? 32 : 128)) return `banned_v${family}`;
  if (family === 6 && prefixLen === 64) return 'banned_v6_64';
  return `banned_v${family}_nets`;
}

/** The element as nft writes it: a /64 in the masked set is its network address. */
export function elementKey(def: SetDef, key: string): string {
  return def.len === 64 ? key.slice(0, -3) : key;
}

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
  for (const d of setDefs(t.families)) {
    const type = d.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const flags = d.ban ? (d.len === null ? 'interval,timeout' : 'timeout') : 'interval';
    out.push(`add set ${at} ${d.name} { type ${type}; flags ${flags}; }`);
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
  const defs = setDefs(t.families);
  for (const d of defs) if (!d.ban) rules.push(`${d.match} @${d.name} return`);
  for (const d of defs) {
    if (!d.ban) continue;
    const m = `${d.match} @${d.name}`;
    if (t.action === 'drop') {
      // every port: every protocol too (ICMP included)
      rules.push(ports ? `${m} meta l4proto { tcp, udp }${ports} drop` : `${m} drop`);
    } else {
      rules.push(`${m} meta l4proto tcp${ports} reject with tcp reset`);
      rules.push(`${m} meta l4proto udp${ports} reject`);
      if (!ports) rules.push(`${m} drop`);
    }
  }
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
