import type { NotifyEvent, NotifyFormat } from './types.js';

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

/** One event in edgeban's JSON document: the API's field names (`ip_address`, `expires_at`…). */
function eventJson(e: NotifyEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.type, at: iso(e.at), node: e.node };
  if (e.jail !== null) out.jail = e.jail;
  if (e.ip !== undefined) out.ip_address = e.ip;
  if (e.kind !== undefined) out.kind = e.kind;
  if (e.reason !== undefined) out.reason = e.reason;
  if (e.pattern !== undefined) out.pattern = e.pattern;
  if (e.expiresAt !== undefined) out.expires_at = iso(e.expiresAt);
  if (e.by !== undefined) out.by = e.by;
  if (e.offences !== undefined) out.offences = e.offences;
  if (e.name !== undefined) out.pattern_name = e.name;
  if (e.detail !== undefined) out.detail = e.detail;
  return out;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** One line of a chat message; attacker-written text (reasons quote log lines) kept short. */
function eventLine(e: NotifyEvent): string {
  const short = (t: string | undefined) =>
    t === undefined ? '' : t.length > 200 ? `${t.slice(0, 200)}…` : t;
  switch (e.type) {
    case 'ban': {
      const how = e.expiresAt ? `for ${duration(e.expiresAt - e.at)}` : 'permanently';
      const jail = e.jail && e.jail !== 'default' ? ` [${e.jail}]` : '';
      return `🚫 ${e.ip} banned ${how}${jail}: ${short(e.reason)}${e.offences && e.offences > 1 ? ` (offence ${e.offences})` : ''}`;
    }
    case 'unban':
      return `✅ ${e.ip} unbanned by ${short(e.by)}${e.reason ? `: ${short(e.reason)}` : ''}`;
    case 'quarantine':
      return `⚠️ pattern ${short(e.name)} quarantined: ${short(e.reason)}`;
    case 'database_down':
      return `🔴 database unreachable${e.detail ? `: ${short(e.detail)}` : ''}`;
    case 'database_up':
      return '🟢 database reachable again';
  }
}

/** The body of one POST: a batch of events in the webhook's format. */
export function formatBatch(
  format: NotifyFormat,
  node: string,
  events: readonly NotifyEvent[],
  now: number,
): string {
  if (format === 'chat') {
    const lines = events.map(eventLine);
    return JSON.stringify({ text: `edgeban ${node}:\n${lines.join('\n')}` });
  }
  return JSON.stringify({ source: 'edgeban', node, sent_at: iso(now), events: events.map(eventJson) });
}
