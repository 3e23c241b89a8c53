import type { BanSummary, ReplaySummary } from './replay.js';

/** What `edgeban replay` prints: the summary as text tables (fail2ban-regex's layout) or JSON. */

export function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function iso(ms: number | null): string {
  return ms === null || !Number.isFinite(ms) ? 'never' : new Date(ms).toISOString().replace('.000Z', 'Z');
}

function dur(ms: number | null): string {
  if (ms === null) return 'permanent';
  const s = Math.round(ms / 1000);
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Bans and shadow (would-be) bans per jail, by jail name. */
function perJail(bans: readonly BanSummary[]): { jail: string; bans: number; shadow: number }[] {
  const by = new Map<string, { jail: string; bans: number; shadow: number }>();
  for (const b of bans) {
    let j = by.get(b.jail);
    if (j === undefined) {
      j = { jail: b.jail, bans: 0, shadow: 0 };
      by.set(b.jail, j);
    }
    if (b.shadow) j.shadow++;
    else j.bans++;
  }
  return [...by.values()].sort((a, b) => (a.jail < b.jail ? -1 : a.jail > b.jail ? 1 : 0));
}

function table(head: string[], rows: string[][], right: number[] = []): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right.includes(i) ? c.padStart(w[i]) : c.padEnd(w[i]))).join(' | ')} |`;
  return [
    line(head),
    `|${w.map((x, i) => (right.includes(i) ? `${'-'.repeat(x + 1)}:` : '-'.repeat(x + 2))).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function formatSummary(s: ReplaySummary, withEngine: boolean): string {
  const secs = s.elapsedMs / 1000;
  const parts: string[] = [];
  parts.push(
    `Lines: ${num(s.lines)} lines, ${num(s.matched)} matched, ${num(s.missed)} missed` +
      ` [processed in ${secs.toFixed(2)} s, ${num(s.lines / Math.max(secs, 1e-6))} lines/s]`,
  );
  if (s.truncated > 0) parts.push(`Truncated: ${num(s.truncated)} over-long lines were cut`);
  parts.push(`Without a syslog header (matched as plain text): ${num(s.noHeader)}`);
  parts.push('');
  parts.push('Patterns:');
  parts.push(
    table(
      ['#', 'pattern', 'severity', 'matched'],
      s.patterns.map((p, i) => [String(i + 1), p.name, String(p.severity), num(p.matched)]),
      [0, 2, 3],
    ),
  );
  parts.push('');
  parts.push(`Addresses that matched: ${num(s.addresses)}`);
  if (withEngine) {
    parts.push(`Bans that would have happened: ${num(s.bans.length)}`);
    if (s.bans.length > 0) {
      parts.push(
        table(
          ['at', 'target', 'jail', 'services', 'pattern', 'offence', 'duration', 'until'],
          s.bans.map((b) => [
            iso(b.at),
            b.target,
            b.shadow ? `${b.jail} (shadow)` : b.jail,
            b.services.length > 0 ? b.services.join(',') : 'all',
            b.pattern ?? '',
            String(b.offences),
            dur(b.durationMs),
            iso(b.expiresAt),
          ]),
          [5],
        ),
      );
      parts.push('');
      parts.push('Bans per jail (shadow: would-be bans of a jail in shadow mode, never enforced):');
      parts.push(
        table(
          ['jail', 'bans', 'shadow'],
          perJail(s.bans).map((j) => [j.jail, num(j.bans), num(j.shadow)]),
          [1, 2],
        ),
      );
    }
  } else {
    parts.push('Bans: not computed (no ban engine)');
  }
  return `${parts.join('\n')}\n`;
}

export function toJson(s: ReplaySummary, withEngine: boolean): Record<string, unknown> {
  return {
    files: s.files,
    lines: s.lines,
    matched: s.matched,
    missed: s.missed,
    truncated: s.truncated,
    no_header: s.noHeader,
    elapsed_ms: Math.round(s.elapsedMs),
    addresses: s.addresses,
    patterns: s.patterns.map((p) => ({ name: p.name, severity: p.severity, matched: p.matched })),
    bans: withEngine
      ? s.bans.map((b) => ({
          target: b.target,
          pattern: b.pattern,
          at: iso(b.at),
          expires_at: b.expiresAt === null ? null : iso(b.expiresAt),
          duration_seconds: b.durationMs === null ? null : Math.round(b.durationMs / 1000),
          offences: b.offences,
          jail: b.jail,
          services: b.services,
          shadow: b.shadow,
        }))
      : null,
    jails: withEngine ? perJail(s.bans) : null,
  };
}
