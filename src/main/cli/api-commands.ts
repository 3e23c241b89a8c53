import { parseArgs } from 'node:util';
import { EdgebanError } from '../../shared/errors.js';
import { type ApiAnswer, type ApiTarget, callApi } from './api-client.js';
import { resolveTarget } from './api-target.js';

/**
 * `edgeban ban|unban|bans|history|status|whitelist|blacklist`: the REST API from a shell. Tables for
 * people, `--json` for scripts; the exit code is 0 on success, 1 when the API refused, 2 on
 * usage, configuration or connection errors; `status` is 0 banned, 1 not banned, 2 error.
 */

const CLIENT_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  force: { type: 'boolean' },
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
  jail: { type: 'string' },
  since: { type: 'string' },
} as const;

export const CLIENT_USAGE = [
  'API client (talks to a running edgeban):',
  '  edgeban ban IP|CIDR [--for 1h] [--reason TEXT] [--permanent] [--force]',
  '  edgeban unban IP|CIDR [--reason TEXT]',
  '  edgeban status IP            verdict, why, until when',
  '  edgeban bans [--filter F] [--limit N] [--offset N]',
  '  edgeban history IP|CIDR [--jail J] [--since 24h] [--limit N] [--offset N]   bans that ended',
  '  edgeban whitelist add|rm|ls [IP|CIDR] [--reason TEXT] [--force]',
  '  edgeban blacklist add|rm|ls [IP|CIDR] [--reason TEXT] [--force]',
  '  where:       --url URL ($EDGEBAN_URL), else nginx.address:nginx.port of the configuration',
  '               serve uses (--config PATH, $EDGEBAN_CONFIG, ./config.yaml, /etc/edgeban/config.yaml, …)',
  '  credentials: --token T ($EDGEBAN_TOKEN) or --user U --password P ($EDGEBAN_USER, $EDGEBAN_PASSWORD),',
  '               else the first api.tokens entry or the api.basic_auth user of that configuration',
  '  --force      a range wider than the server allows (/8 IPv4, /32 IPv6) without it',
  '  --json       the API answer as JSON (for scripts)',
  '  options may come before the command too: edgeban --url http://10.0.0.2:8888 ban 203.0.113.7',
  '  exit status: 0 done, 1 refused by the API, 2 usage, configuration or connection error;',
  '               status: 0 banned or blacklisted, 1 not banned, 2 error (like grep)',
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
  return resolveTarget(v);
}

/** `--help` of a client command: its usage, exit 0. */
function helped(v: Values): boolean {
  if (v.help) console.log(CLIENT_USAGE);
  return v.help === true;
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
  if (!ok && a.retryAfter !== undefined)
    console.error(`edgeban: the server asks to retry after ${a.retryAfter} s (Retry-After)`);
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
  if (helped(v)) return 0;
  const body: Record<string, unknown> = { ip_address: need(args, 0, 'IP or CIDR') };
  if (v.for) body.duration = /^\d+$/.test(v.for) ? Number(v.for) : v.for;
  if (v.reason) body.reason = v.reason;
  if (v.permanent) body.permanent = true;
  if (v.force) body.force = true;
  return report(await callApi(targetOf(v), 'POST', '/api/ban', body), v.json ?? false);
}

async function unban(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  if (helped(v)) return 0;
  const body: Record<string, unknown> = { ip_address: need(args, 0, 'IP or CIDR') };
  if (v.reason) body.reason = v.reason;
  return report(await callApi(targetOf(v), 'POST', '/api/unban', body), v.json ?? false);
}

/** `status`: like grep, 0 when banned (or blacklisted), 1 when not, 2 on any error. */
async function status(argv: string[]): Promise<number> {
  try {
    return await statusOf(argv);
  } catch (err) {
    console.error(`edgeban: ${(err as Error).message}`);
    return 2;
  }
}

/** One jail of GET /api/bans/{ip} (the explain view). */
interface CliJailView {
  jail: string;
  mode: string;
  failures: number;
  threshold: number;
  time_window_seconds: number;
  ban: { expires_at: string | null; services: string[]; shadow: boolean } | null;
  lines: string[];
}

/** A jail's count, threshold, ban and last lines, for `edgeban status IP`. */
function jailLines(j: CliJailView): string[] {
  const mode = j.mode === 'shadow' ? ' [shadow]' : '';
  const out = [`  jail ${j.jail}${mode}: ${j.failures}/${j.threshold} failures in ${j.time_window_seconds}s`];
  if (j.ban) {
    const scope = j.ban.services.length > 0 ? j.ban.services.join(', ') : 'every service';
    const would = j.ban.shadow ? 'would ban' : 'banned';
    out.push(`    ${would} until ${String(j.ban.expires_at)} on ${scope}`);
  }
  for (const l of j.lines) out.push(`    | ${l}`);
  return out;
}

async function statusOf(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  if (helped(v)) return 0;
  const ip = need(args, 0, 'IP');
  const a = await callApi(targetOf(v), 'GET', `/api/bans/${encodeURIComponent(ip)}`);
  if (a.status >= 400 || a.body.success === false) {
    report(a, v.json ?? false);
    return 2;
  }
  const b = a.body;
  if (v.json) {
    console.log(JSON.stringify(b, null, 2));
    return b.banned ? 0 : 1;
  }
  const verdict = b.banned ? `BANNED (${String(b.kind)} ${String(b.matched)})` : 'allowed';
  const lines = [`${String(b.ip_address)}: ${verdict}`];
  if (b.banned) {
    lines.push(`  reason:  ${String(b.reason)}`);
    lines.push(
      `  until:   ${b.expires_at ? `${String(b.expires_at)} (${String(b.duration_remaining)} left)` : 'permanent'}`,
    );
  }
  lines.push(`  offences: ${String(b.offences)}, failures in window: ${String(b.failures)}`);
  for (const j of (b.jails as CliJailView[] | undefined) ?? []) lines.push(...jailLines(j));
  console.log(lines.join('\n'));
  return b.banned ? 0 : 1;
}

async function bans(argv: string[]): Promise<number> {
  const { values: v } = parse(argv);
  if (helped(v)) return 0;
  const a = await callApi(targetOf(v), 'GET', `/api/temp-bans${query(v)}`);
  const rows = (a.body.temp_bans as Record<string, unknown>[] | undefined) ?? [];
  return report(a, v.json ?? false, {
    rows,
    columns: ['ip_address', 'duration_remaining', 'offences', 'reason', 'created_by'],
  });
}

/** `history IP|CIDR`: the bans that ended for an address (or inside a range), newest first. */
async function history(argv: string[]): Promise<number> {
  const { values: v, args } = parse(argv);
  if (helped(v)) return 0;
  const q = new URLSearchParams({ ip: need(args, 0, 'IP or CIDR') });
  if (v.jail) q.set('jail', v.jail);
  if (v.since) q.set('since', v.since);
  if (v.limit) q.set('limit', v.limit);
  if (v.offset) q.set('offset', v.offset);
  const a = await callApi(targetOf(v), 'GET', `/api/history?${q.toString()}`);
  const rows = (a.body.history as Record<string, unknown>[] | undefined) ?? [];
  return report(a, v.json ?? false, {
    rows,
    columns: ['ip_address', 'jail', 'created_at', 'ended_at', 'end_reason', 'ended_by', 'reason'],
  });
}

function listCommand(kind: 'whitelist' | 'blacklist') {
  return async (argv: string[]): Promise<number> => {
    const { values: v, args } = parse(argv);
    if (helped(v)) return 0;
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
    if (v.force && sub === 'add') body.force = true;
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
  history: { summary: 'bans of an address that ended: when, why, how', run: history },
  whitelist: { summary: 'whitelist add|rm|ls', run: listCommand('whitelist') },
  blacklist: { summary: 'blacklist add|rm|ls', run: listCommand('blacklist') },
};
