import { parseArgs } from 'node:util';
import { EdgebanError } from '../../shared/errors.js';
import { type ApiAnswer, type ApiTarget, callApi } from './api-client.js';

/**
 * `edgeban ban|unban|bans|status|whitelist|blacklist`: the REST API from a shell. Tables for
 * people, `--json` for scripts; the exit code is 0 on success, 1 when the API refused, 2 on
 * usage errors.
 */

const CLIENT_OPTIONS = {
  url: { type: 'string' },
  user: { type: 'string', short: 'u' },
  password: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  for: { type: 'string' },
  reason: { type: 'string', short: 'r' },
  permanent: { type: 'boolean' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  filter: { type: 'string' },
} as const;

export const CLIENT_USAGE = [
  'API client (talks to a running edgeban; --url, default $EDGEBAN_URL or http://127.0.0.1:8888):',
  '  edgeban ban IP|CIDR [--for 1h] [--reason TEXT] [--permanent]',
  '  edgeban unban IP|CIDR [--reason TEXT]',
  '  edgeban status IP            verdict, why, until when',
  '  edgeban bans [--filter F] [--limit N] [--offset N]',
  '  edgeban whitelist add|rm|ls [IP|CIDR] [--reason TEXT]',
  '  edgeban blacklist add|rm|ls [IP|CIDR] [--reason TEXT]',
  '  credentials: --user U --password P ($EDGEBAN_USER, $EDGEBAN_PASSWORD) or --token T ($EDGEBAN_TOKEN); --json',
].join('\n');

type Values = {
  [K in keyof typeof CLIENT_OPTIONS]?: (typeof CLIENT_OPTIONS)[K]['type'] extends 'boolean'
    ? boolean
    : string;
};

function parse(argv: string[]): { values: Values; args: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: CLIENT_OPTIONS,
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Values, args: positionals };
  } catch (err) {
    throw new EdgebanError('E_USAGE', (err as Error).message);
  }
}

function targetOf(v: Values): ApiTarget {
  return {
    url: v.url ?? process.env.EDGEBAN_URL ?? 'http://127.0.0.1:8888',
    user: v.user ?? process.env.EDGEBAN_USER,
    password: v.password ?? process.env.EDGEBAN_PASSWORD,
    token: v.token ?? process.env.EDGEBAN_TOKEN,
  };
}

function need(args: string[], i: number, what: string): string {
  const a = args[i];
  if (!a) throw new EdgebanError('E_USAGE', `missing ${what}\n\n${CLIENT_USAGE}`);
  return a;
}

function query(v: Values): string {
  const q = new URLSearchParams();
  if (v.limit) q.set('limit', v.limit);
  if (v.offset) q.set('offset', v.offset);
  if (v.filter) q.set('filter', v.filter);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Prints the answer; returns the exit code. */
function report(
  a: ApiAnswer,
  json: boolean,
  table?: { rows: Record<string, unknown>[]; columns: string[] },
): number {
  const ok = a.status < 400 && a.body.success !== false;
  if (json) console.log(JSON.stringify(a.body, null, 2));
  else if (!ok) console.error(`edgeban: ${String(a.body.message ?? `HTTP ${a.status}`)} (HTTP ${a.status})`);
  else if (table) {
    console.log(formatTable(table.rows, table.columns));
    if (a.body.count !== undefined) console.log(`${table.rows.length} shown of ${String(a.body.count)}`);
  } else console.log(String(a.body.message ?? 'ok'));
  return ok ? 0 : 1;
}

export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.toUpperCase())),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join('\n');
}

async function ban(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  const body: Record<string, unknown> = { ip_address: need(args, 0, 'IP or CIDR') };
  if (v.for) body.duration = /^\d+$/.test(v.for) ? Number(v.for) : v.for;
  if (v.reason) body.reason = v.reason;
  if (v.permanent) body.permanent = true;
  return report(await callApi(targetOf(v), 'POST', '/api/ban', body), v.json ?? false);
}

async function unban(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  const body: Record<string, unknown> = { ip_address: need(args, 0, 'IP or CIDR') };
  if (v.reason) body.reason = v.reason;
  return report(await callApi(targetOf(v), 'POST', '/api/unban', body), v.json ?? false);
}

async function status(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  const ip = need(args, 0, 'IP');
  const a = await callApi(targetOf(v), 'GET', `/api/bans/${encodeURIComponent(ip)}`);
  if (v.json || a.status >= 400) return report(a, v.json ?? false);
  const b = a.body;
  const verdict = b.banned ? `BANNED (${String(b.kind)} ${String(b.matched)})` : 'allowed';
  const lines = [`${String(b.ip_address)}: ${verdict}`];
  if (b.banned) {
    lines.push(`  reason:  ${String(b.reason)}`);
    lines.push(
      `  until:   ${b.expires_at ? `${String(b.expires_at)} (${String(b.duration_remaining)} left)` : 'permanent'}`,
    );
  }
  lines.push(`  offences: ${String(b.offences)}, failures in window: ${String(b.failures)}`);
  console.log(lines.join('\n'));
  return 0;
}

async function bans(argv: string[]): Promise<number> {
  const { values: v } = parse(argv);
  const a = await callApi(targetOf(v), 'GET', `/api/temp-bans${query(v)}`);
  const rows = (a.body.temp_bans as Record<string, unknown>[] | undefined) ?? [];
  return report(a, v.json ?? false, {
    rows,
    columns: ['ip_address', 'duration_remaining', 'offences', 'reason', 'created_by'],
  });
}

function listCommand(kind: 'whitelist' | 'blacklist') {
  return async (argv: string[]): Promise<number> => {
    const { values: v, args } = parse(argv);
    const sub = args[0] ?? 'ls';
    const t = targetOf(v);
    if (sub === 'ls' || sub === 'list') {
      const a = await callApi(t, 'GET', `/api/${kind}${query(v)}`);
      const rows = (a.body[kind] as Record<string, unknown>[] | undefined) ?? [];
      return report(a, v.json ?? false, {
        rows,
        columns: ['ip_address', 'reason', 'created_by', 'created_at'],
      });
    }
    const ip = need(args, 1, 'IP or CIDR');
    const body: Record<string, unknown> = { ip_address: ip };
    if (v.reason) body.reason = v.reason;
    if (sub === 'add') return report(await callApi(t, 'POST', `/api/${kind}`, body), v.json ?? false);
    if (sub === 'rm' || sub === 'remove' || sub === 'del')
      return report(await callApi(t, 'DELETE', `/api/${kind}`, body), v.json ?? false);
    throw new EdgebanError('E_USAGE', `unknown ${kind} action "${sub}" (add, rm, ls)\n\n${CLIENT_USAGE}`);
  };
}

export const API_COMMANDS = {
  ban: { summary: 'ban an address or range through the API', run: ban },
  unban: { summary: 'lift a ban through the API', run: unban },
  status: { summary: 'is this address banned, why, until when', run: status },
  bans: { summary: 'list the active temporary bans', run: bans },
  whitelist: { summary: 'whitelist add|rm|ls', run: listCommand('whitelist') },
  blacklist: { summary: 'blacklist add|rm|ls', run: listCommand('blacklist') },
};
