import { parseArgs } from 'node:util';
import { EdgebanError } from '../../shared/errors.js';
import type { BanKind, BanRecord, ListPage } from '../engine/types.js';
import { BanMapState, mapFileText } from '../sinks/haproxy-map/state.js';
import { type ApiTarget, callApi } from './api-client.js';
import { resolveTarget } from './api-target.js';

export const EXPORT_USAGE = `usage: edgeban export --format haproxy-map|nft|plain|json [options]

Prints the bans in force of a running edgeban (read through its REST API, like the other client
commands), for tools that are fed a list:
  haproxy-map  "key value" lines, the file haproxy_map keeps (banned, blacklisted, allowed)
  nft          an nft -f script: table inet edgeban, sets banned_v4 / banned_v6 (interval,
               timeout), a temporary ban with its remaining time as the element's timeout
  plain        one address or CIDR a line (temporary bans and blacklist)
  json         [{ "target", "kind", "expires_at", "reason" }] (whitelist entries too)

options:
  --url URL, --token T, --user U --password P, --config PATH   as for the other client commands
`;

const OPTIONS = {
  format: { type: 'string', short: 'f' },
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  user: { type: 'string', short: 'u' },
  password: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  'allow-unknown': { type: 'boolean' },
} as const;

const FORMATS = ['haproxy-map', 'nft', 'plain', 'json'] as const;
type Format = (typeof FORMATS)[number];
/** The API's largest page. */
const PAGE = 10_000;

/** Every entry of one kind, page by page. */
async function fetchAll(t: ApiTarget, kind: BanKind): Promise<BanRecord[]> {
  const path = kind === 'temp' ? '/api/temp-bans' : `/api/${kind}`;
  const field = kind === 'temp' ? 'temp_bans' : kind;
  const out: BanRecord[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const a = await callApi(t, 'GET', `${path}?limit=${PAGE}&offset=${offset}`);
    if (a.status >= 400 || a.body.success === false)
      throw new EdgebanError(
        'E_API',
        `${path}: ${String(a.body.message ?? `HTTP ${a.status}`)} (HTTP ${a.status})`,
      );
    const items = (a.body[field] as Record<string, unknown>[] | undefined) ?? [];
    for (const i of items) {
      const exp = typeof i.expires_at === 'string' ? Date.parse(i.expires_at) : null;
      out.push({
        target: String(i.ip_address),
        kind,
        reason: typeof i.reason === 'string' ? i.reason : '',
        pattern: typeof i.pattern === 'string' ? i.pattern : null,
        createdAt: typeof i.created_at === 'string' ? Date.parse(i.created_at) : 0,
        expiresAt: kind === 'temp' ? exp : null,
        createdBy: String(i.created_by ?? ''),
        offences: Number(i.offences ?? 0),
        node: String(i.node ?? ''),
      });
    }
    if (items.length < PAGE) return out;
  }
}

/** The text of one format, from the three lists as the API gave them. */
export function formatExport(
  format: Format,
  lists: Record<BanKind, BanRecord[]>,
  now: number = Date.now(),
): string {
  if (format === 'json') {
    const all = [...lists.temp, ...lists.blacklist, ...lists.whitelist].map((r) => ({
      target: r.target,
      kind: r.kind,
      expires_at: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(),
      reason: r.reason,
    }));
    return `${JSON.stringify(all, null, 2)}\n`;
  }
  // the same rules as the haproxy_map sink: a ban a whitelist entry covers is not in force
  const source = {
    list: (kind: BanKind): ListPage => ({ total: lists[kind].length, items: lists[kind] }),
  };
  const state = new BanMapState(source, () => now);
  state.reconcile();
  if (format === 'haproxy-map') return mapFileText(state.entries);
  const banned = [...state.entries].filter(([, v]) => v !== 'allowed').map(([k]) => k);
  if (format === 'plain') return banned.length ? `${banned.join('\n')}\n` : '';
  const expires = new Map(lists.temp.map((r) => [r.target, r.expiresAt ?? now]));
  const element = (k: string) => {
    if (state.entries.get(k) !== 'banned') return k;
    return `${k} timeout ${Math.max(1, Math.ceil(((expires.get(k) ?? now) - now) / 1000))}s`;
  };
  const set = (name: string, type: string, items: string[]) =>
    [
      `  set ${name} {`,
      `    type ${type}; flags interval, timeout;`,
      ...(items.length ? [`    elements = { ${items.map(element).join(',\n      ')} }`] : []),
      '  }',
    ].join('\n');
  return `${[
    '# edgeban export --format nft: load with nft -f (whitelist exceptions inside a banned range are not expressed)',
    'table inet edgeban {',
    set(
      'banned_v4',
      'ipv4_addr',
      banned.filter((k) => !k.includes(':')),
    ),
    set(
      'banned_v6',
      'ipv6_addr',
      banned.filter((k) => k.includes(':')),
    ),
    '}',
  ].join('\n')}\n`;
}

/** `edgeban export`: exit 0 with the list on stdout, 2 on usage or API errors. */
export async function exportCommand(argv: string[]): Promise<number> {
  let values: { [K in keyof typeof OPTIONS]?: string | boolean };
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new EdgebanError('E_USAGE', `${(err as Error).message}\n\n${EXPORT_USAGE}`);
  }
  if (values.help) {
    console.log(EXPORT_USAGE);
    return 0;
  }
  const format = values.format as Format | undefined;
  if (!format || !FORMATS.includes(format))
    throw new EdgebanError('E_USAGE', `--format must be one of ${FORMATS.join(', ')}\n\n${EXPORT_USAGE}`);
  const t = resolveTarget({
    config: values.config as string | undefined,
    url: values.url as string | undefined,
    user: values.user as string | undefined,
    password: values.password as string | undefined,
    token: values.token as string | undefined,
  });
  const lists = {
    temp: await fetchAll(t, 'temp'),
    blacklist: await fetchAll(t, 'blacklist'),
    whitelist: await fetchAll(t, 'whitelist'),
  };
  process.stdout.write(formatExport(format, lists));
  return 0;
}
