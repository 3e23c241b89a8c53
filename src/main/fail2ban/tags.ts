/**
 * fail2ban's regex tags: `<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`, `<DNS>`,
 * `<CIDR>`, `<SUBNET>`, `<SKIPLINES>`, `<F-ID/>`, `<F-PORT/>` and the capture tags
 * `<F-NAME>…</F-NAME>` (→ a group named `name`; `id` → `fid`, `port` → `fport`).
 */

const IP4 = String.raw`(?:\d{1,3}\.){3}\d{1,3}`;
/**
 * fail2ban writes `(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)`. The lookbehind
 * always holds there (every repetition ends with `:`) and `{1,7}` around `{1,4}` exceeds what
 * V8's linear engine accepts, so: `+` (the captured address is validated anyway) and no
 * lookbehind. Same matches on every real address.
 */
const IP6 = String.raw`(?:[0-9a-fA-F]{1,4}::?|::)+(?:[0-9a-fA-F]{1,4}|:)`;
const DNS = String.raw`[\w\-.^_]*\w`;

export type TagMode = 'fail2ban' | 'edgeban';

function hostTags(mode: TagMode, useDns: boolean, nextIp: () => number): Record<string, () => string> {
  if (mode === 'fail2ban') {
    const ip4 = `(?:::f{4,6}:)?(?P<ip4>${IP4})`;
    const ip6 = `(?P<ip6>${IP6})`;
    const addr = String.raw`\[?(?:${ip4}|${ip6})\]?`;
    const dns = `(?P<dns>${DNS})`;
    const cidr = String.raw`(?P<cidr>\d+)`;
    return {
      HOST: () => (useDns ? `(?:${addr}|${dns})` : addr),
      IP4: () => ip4,
      IP6: () => ip6,
      ADDR: () => addr,
      DNS: () => dns,
      CIDR: () => cidr,
      SUBNET: () => String.raw`\[?(?:${ip4}|${ip6})(?:/${cidr})?\]?`,
    };
  }
  // edgeban bans addresses: the first address tag is the `ip` group, later ones (`(?:IPv6:<IP6>|
  // <IP4>)`) `ip_1`, `ip_2`…, the first that matched is the address; v4-mapped folded by the
  // matcher's parser, host names not matched
  const g = (body: string) => {
    const n = nextIp();
    return `(?P<${n === 0 ? 'ip' : `ip_${n}`}>${body})`;
  };
  const any = `(?:::f{4,6}:)?${IP4}|${IP6}`;
  return {
    HOST: () => String.raw`\[?${g(any)}\]?`,
    IP4: () => g(`(?:::f{4,6}:)?${IP4}`),
    IP6: () => g(IP6),
    ADDR: () => String.raw`\[?${g(any)}\]?`,
    DNS: () => DNS,
    CIDR: () => String.raw`\d+`,
    SUBNET: () => String.raw`\[?${g(any)}(?:/\d+)?\]?`,
  };
}

const MAP: Record<string, string> = { id: 'fid', port: 'fport' };

export interface ExpandedRegex {
  /** Python syntax, tags replaced. */
  source: string;
  /** Capture names the tags produced (fail2ban mode). */
  groups: string[];
  /** The regex has an address tag. */
  hasAddress: boolean;
}

/**
 * Replaces fail2ban's tags as Regex._resolveHostTag does, then its global-flag rewrite. `keep`
 * (edgeban mode): the capture tags kept as groups (lower case: `mlfid`, `user`…) for the
 * live session rules; a name's second group is `name_1` and so on (JavaScript wants them unique).
 */
export function expandTags(
  regex: string,
  mode: TagMode = 'fail2ban',
  useDns = true,
  keep: ReadonlySet<string> = new Set(),
): ExpandedRegex {
  const open = new Set<string>();
  const kept = new Set<string>();
  const seen = new Map<string, number>();
  const groups: string[] = [];
  let ips = 0;
  let hasAddress = false;
  const nextIp = () => {
    hasAddress = true;
    return ips++;
  };
  const host = hostTags(mode, useDns, nextIp);
  let skip = 0;
  const out = regex.replace(/<\/?[\w-]+\/?>/g, (tag) => {
    const tn = tag.slice(1, -1);
    const bare = tn.endsWith('/') ? tn.slice(0, -1) : tn;
    const selfClosed = tn.endsWith('/') && bare.startsWith('F-');
    const hostName = selfClosed ? bare.slice(2) : tn;
    if (hostName in host && (selfClosed || !tn.startsWith('F-'))) {
      if (mode === 'fail2ban' && hostName !== 'CIDR' && hostName !== 'DNS') hasAddress = true;
      return host[hostName]();
    }
    if (tn === 'SKIPLINES') {
      const n = skip++;
      return mode === 'fail2ban' ? `\\n(?P<skiplines${n}>(?:(?:.*\\n)*?))` : `\\n(?:(?:.*\\n)*?)`;
    }
    if (tn === 'F-ID/') return mode === 'fail2ban' ? String.raw`(?P<fid>\S+)` : String.raw`\S+`;
    if (tn === 'F-PORT/') return mode === 'fail2ban' ? String.raw`(?P<fport>\w+)` : String.raw`\w+`;
    const m = /^(\/?)F-([A-Z0-9_-]+)$/.exec(tn);
    if (m === null) return tag;
    if (m[1] === '/') return open.has(m[2]) ? ')' : tag;
    open.add(m[2]);
    const lower = m[2].toLowerCase();
    const name = MAP[lower] ?? lower;
    groups.push(name);
    // edgeban keeps only the groups the regex refers back to ((?P=user)): a name twice is an error
    if (mode === 'edgeban' && regex.includes(`(?P=${name})`) && !kept.has(name)) {
      kept.add(name);
      return `(?P<${name}>`;
    }
    if (mode === 'edgeban' && keep.has(lower)) {
      const n = seen.get(lower) ?? 0;
      seen.set(lower, n + 1);
      return `(?P<${n === 0 ? lower : `${lower}_${n}`}>`;
    }
    return mode === 'fail2ban' ? `(?P<${name}>` : '(?:';
  });
  // `((?i)x)` / `(?:(?i)x)` → `(?i:x)`, as fail2ban does on Pythons with scoped flags
  const flagged = out.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, '$1:');
  return { source: flagged, groups, hasAddress };
}
